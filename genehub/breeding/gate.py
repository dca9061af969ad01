"""The compatibility gate: may these parents be composed or bred with this method?

Run before any composition or breeding. Every check runs (none short-circuits), so a refusal lists every
reason at once, each with what would make it pass::

    signatures   each gene verifies (genehub.gene.verify_gene) and its signer is trusted
    licence      the parents' SPDX licences allow one derivative; the child's licence is computed
    data_use     the cards' data-use restrictions can hold together; the child inherits their union
    family       same architecture and model type (weight-level methods and composition on one host)
    tokenizer    same tokenizer fingerprint (weight-level methods and composition)
    shapes       same tensor names and shapes (weight-level methods; LoRA ranks where the method needs it)

Example:
    >>> from genehub.breeding import gate
    >>> report = gate.check(["genes/sort", "genes/add"], "ties")      # doctest: +SKIP
    >>> report.ok, report.license
    (True, 'Apache-2.0')
    >>> gate.require(["genes/sort", "models/other"], "ties")          # doctest: +SKIP
    IncompatibleError: ... (every failed check)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import GenehubError, IncompatibleError, UsageError
from .. import licenses
from .parents import Parent, load_parent

#: Methods outside the registry that the gate also judges: a routing composition of genes on one host,
#: and an output ensemble of independent models (no weights combined).
COMPOSE = "compose"
ENSEMBLE = "ensemble"

# Restrictions that forbid any derivative of the parent.
_NO_DERIVATIVES = re.compile(r"^(no[-_ ]?(derivatives?|merg(e|ing)|breed(ing)?|modification))$", re.I)
# Restrictions that the GPL family forbids adding to a combined work.
_USE_LIMITS = re.compile(r"^(non[-_ ]?commercial|research[-_ ]?only)$", re.I)
# "only-<scope>" / "region:<scope>" restrict where a parent may be used; two different scopes exclude each other.
_SCOPE = re.compile(r"^(?:only[-_:]|region[:=])(.+)$", re.I)


@dataclass
class CheckResult:
    """One check of the gate: its name, whether it passed, and its failures (each with a fix)."""

    name: str
    passed: bool
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class GateReport:
    """What the gate decided.

    Attributes:
        method: the method judged.
        parents: the parents, described.
        checks: one :class:`CheckResult` per check, in order.
        license: the child's effective SPDX licence (None when refused).
        license_rule: how ``license`` was derived (for the card).
        restrictions: the child's data-use restrictions (the union of the parents').
    """

    method: str
    parents: list[Parent]
    checks: list[CheckResult]
    license: str | None
    license_rule: str
    restrictions: list[str]

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def reasons(self) -> list[str]:
        """Every failure, prefixed with its check's name."""
        return [f"{c.name}: {r}" for c in self.checks for r in c.reasons]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "method": self.method, "license": self.license, "license_rule": self.license_rule,
            "restrictions": self.restrictions, "parents": [p.label for p in self.parents],
            "checks": [{"name": c.name, "passed": c.passed, "reasons": c.reasons, "notes": c.notes} for c in self.checks],
        }


def _method_level(method: Any) -> tuple[str, bool, tuple[str, ...]]:
    """``(name, weight_level, constraints)`` for a registry method, its name, or compose/ensemble."""
    if method in (COMPOSE, ENSEMBLE):
        return method, False, ()
    from .methods import get_method

    spec = get_method(method) if isinstance(method, str) else method
    return spec.name, spec.weight_level, tuple(spec.constraints)


def check(parents: Sequence[Any], method: Any, *, trust: Any = None, verify: bool = True,
          unsigned_models: str = "allow") -> GateReport:
    """Judge whether ``parents`` may be combined with ``method``; never raises for a failed check.

    Args:
        parents: gene or model directories, :class:`Parent` objects, or ``(gene_dir, Verification)``
            pairs from ``genehub.gene.verify_gene`` (already-verified genes are not verified again).
        method: a registry name (``"ties"``, ``"model:slerp"``...), a ``BreedingMethod``, ``"compose"`` or
            ``"ensemble"``.
        trust: the ``genehub.gene.TrustStore`` to verify against (default: the user's).
        verify: verify gene signatures (turn off only for genes you just made yourself).
        unsigned_models: ``"allow"`` (model directories carry no genehub signature; they are pinned by
            content hash) or ``"refuse"``.

    Returns:
        A :class:`GateReport`; ``report.ok`` says whether to proceed.

    Raises:
        UsageError: fewer than one parent, or an unknown method.
        NotFoundError: a parent path that holds neither a gene nor a model.
    """
    if not parents:
        raise UsageError("The gate needs at least one parent.", hint="Pass gene or model directories.")
    name, weight_level, constraints = _method_level(method)
    described = [load_parent(p) for p in parents]
    checks = [_check_signatures(parents, described, trust=trust, verify=verify, unsigned_models=unsigned_models)]
    verdict = licenses.combine({p.label: p.license for p in described})
    checks.append(CheckResult("licence", not verdict.problems, list(verdict.problems),
                              [f"child licence: {verdict.effective}"] if verdict.effective else []))
    restrictions_check, restrictions = _check_data_use(described, verdict.effective)
    checks.append(restrictions_check)
    if weight_level or name == COMPOSE:
        checks.append(_check_family(described))
        checks.append(_check_tokenizer(described))
    if weight_level:
        checks.append(_check_shapes(described, constraints))
    return GateReport(name, described, checks, verdict.effective, verdict.rule, restrictions)


def require(parents: Sequence[Any], method: Any, **kwargs: Any) -> GateReport:
    """Like :func:`check`, but raise :class:`IncompatibleError` listing every failed check.

    Raises:
        IncompatibleError: ``reasons`` holds every failure with its fix.
    """
    report = check(parents, method, **kwargs)
    if not report.ok:
        raise IncompatibleError(
            f"The gate refuses {report.method} on {len(report.parents)} parent(s) "
            f"({len(report.reasons)} problem{'s' if len(report.reasons) != 1 else ''}): " + "; ".join(report.reasons) + ".",
            reasons=report.reasons,
            hint="Fix each listed check, or keep the parents separate (`genehub plan` suggests an ensemble or routing).",
        )
    return report


def _check_signatures(refs: Sequence[Any], parents: list[Parent], *, trust: Any, verify: bool,
                      unsigned_models: str) -> CheckResult:
    result = CheckResult("signatures", True)
    for ref, parent in zip(refs, parents):
        if parent.kind == "model":
            if unsigned_models == "refuse":
                result.reasons.append(f"{parent.label} is a model directory without a genehub signature; "
                                      "package it as a signed gene or allow unsigned models")
            else:
                result.notes.append(f"{parent.label}: model pinned by content hash {parent.revision[:19]}")
            continue
        if parent.signer is not None:
            result.notes.append(f"{parent.label}: already verified (signer {parent.signer})")
            continue
        if not verify:
            result.notes.append(f"{parent.label}: signature not checked (verify=False)")
            continue
        try:
            from ..gene import verify_gene
        except ImportError:
            result.reasons.append(f"{parent.label}: genehub.gene.verify_gene is not available; install the "
                                  "gene-format module or pass verified genes")
            continue
        try:
            verification = verify_gene(parent.path, trust=trust)
        except GenehubError as err:
            files = getattr(err, "files", None)
            detail = f" (files that differ: {', '.join(files)})" if files else ""
            result.reasons.append(f"{parent.label}: {err}{detail}")
            continue
        parent.signer = getattr(verification, "signer", None) or "verified"
        result.notes.append(f"{parent.label}: signed by {parent.signer}")
    result.passed = not result.reasons
    return result


def _check_data_use(parents: list[Parent], effective_license: str | None) -> tuple[CheckResult, list[str]]:
    result = CheckResult("data_use", True)
    union = list(dict.fromkeys(r for p in parents for r in p.restrictions))
    for p in parents:
        for r in p.restrictions:
            if _NO_DERIVATIVES.match(r.strip()) and len(parents) > 0:
                result.reasons.append(f"{p.label} restricts data use with {r!r}: it may not be merged or bred; "
                                      "use it alone (routing composition) or ask its owner to lift the restriction")
    scopes = {}
    for p in parents:
        for r in p.restrictions:
            m = _SCOPE.match(r.strip())
            if m:
                scopes.setdefault(m.group(1).lower(), []).append(p.label)
    if len(scopes) > 1:
        listed = "; ".join(f"{s} ({', '.join(who)})" for s, who in sorted(scopes.items()))
        result.reasons.append(f"parents are limited to different scopes that do not overlap: {listed}; "
                              "choose parents usable in the same scope")
    limits = [r for r in union if _USE_LIMITS.match(r.strip())]
    copyleft = effective_license and any(
        licenses.family(i) in ("strong_copyleft", "gpl2_only") for i in re.split(r"\s+(?:AND|OR|WITH)\s+", effective_license))
    if limits and copyleft:
        result.reasons.append(f"restrictions {limits} cannot be added to a GPL-licensed child ({effective_license}); "
                              "drop the restricted parent or the GPL one")
    if union:
        result.notes.append(f"child inherits restrictions: {union}")
    result.passed = not result.reasons
    return result, union


def _check_family(parents: list[Parent]) -> CheckResult:
    result = CheckResult("family", True)
    first = parents[0]
    for p in parents[1:]:
        for key in ("architecture", "model_type"):
            if getattr(p.host, key) != getattr(first.host, key):
                result.reasons.append(f"{p.label} is {key}={getattr(p.host, key)!r} but {first.label} is "
                                      f"{getattr(first.host, key)!r}; weight-level methods need one base family "
                                      "(use routing across hosts or an ensemble instead)")
    result.passed = not result.reasons
    return result


def _check_tokenizer(parents: list[Parent]) -> CheckResult:
    result = CheckResult("tokenizer", True)
    first = parents[0]
    for p in parents[1:]:
        if p.host.tokenizer_fingerprint != first.host.tokenizer_fingerprint:
            result.reasons.append(f"{p.label} has tokenizer {p.host.tokenizer_fingerprint[:15]}... but "
                                  f"{first.label} has {first.host.tokenizer_fingerprint[:15]}...; "
                                  "token ids would mean different things: use parents that share a tokenizer")
    result.passed = not result.reasons
    return result


def _check_shapes(parents: list[Parent], constraints: tuple[str, ...]) -> CheckResult:
    result = CheckResult("shapes", True)
    first = parents[0]
    for p in parents[1:]:
        for key in ("hidden_size", "num_layers", "vocab_size"):
            if getattr(p.host, key) != getattr(first.host, key):
                result.reasons.append(f"{p.label} has {key}={getattr(p.host, key)} but {first.label} has "
                                      f"{getattr(first.host, key)}; tensors cannot be combined: pick parents of one shape")
    kinds = {p.kind for p in parents}
    if len(kinds) > 1:
        result.reasons.append("parents mix genes and full models; extract a gene from the model first "
                              "(`genehub breed --method extract:lora`) or merge models only")
    elif not result.reasons:
        shapes = [p.tensor_shapes() for p in parents]
        if kinds == {"model"}:
            for p, s in zip(parents[1:], shapes[1:]):
                differ = sorted(k for k in set(s) | set(shapes[0]) if s.get(k) != shapes[0].get(k))
                if differ:
                    result.reasons.append(f"{p.label}: {len(differ)} tensors differ in name or shape from "
                                          f"{first.label} (e.g. {differ[0]}); merge only models of one architecture")
        else:
            for p, s in zip(parents[1:], shapes[1:]):
                # LoRA A is (r, in), B is (out, r): in/out must agree on shared modules; r may differ.
                bad = [k for k in set(s) & set(shapes[0]) if _lora_io(s[k], k) != _lora_io(shapes[0][k], k)]
                if bad:
                    result.reasons.append(f"{p.label}: LoRA module {sorted(bad)[0]} has other input/output sizes "
                                          f"than in {first.label}; the genes were made for different hosts")
            if "same_rank" in constraints:
                ranks = {p.label: p.lora_rank() for p in parents}
                if len(set(ranks.values())) > 1:
                    result.reasons.append(f"this method needs equal LoRA ranks, got {ranks}; use svd, cat or "
                                          "dare_ties_svd, which accept different ranks")
    result.passed = not result.reasons
    return result


def _lora_io(shape: tuple[int, ...], name: str) -> int:
    # The dimension that is not the rank: A is (r, in) -> in; B is (out, r) -> out.
    if "lora_A" in name and len(shape) == 2:
        return shape[1]
    if "lora_B" in name and len(shape) == 2:
        return shape[0]
    return hash(shape)
