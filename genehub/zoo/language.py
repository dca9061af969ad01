"""Natural-language skills for real chat models: short tasks a user types, each in many phrasings.

Each skill generates ``(fields, answer)`` from a seeded RNG and has 9 *seen* phrasings (train and
validation) and 3 *held-out* ones (only in the test split, flagged ``heldout``), so routing and
distillation are judged on wordings they never saw. Rows are chat turns: ``messages`` (one user message)
and ``completion`` (the exact answer), which :mod:`genehub.data` renders with the host's chat template.
Answers are short and exact, so a skill is scored by normalised exact match.

General prompts, the router's "none", are in :mod:`genehub.zoo.general`.

    >>> from genehub.zoo import language
    >>> rows = language.skill_splits("roman", n_train=4)["train"]
    >>> rows[0]["messages"][0]["content"], rows[0]["completion"]
    ('How do you write 4 with Roman numerals?', 'IV')
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass

from num2words import num2words

from ..errors import UsageError

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
WORDS = ("apple river stone cloud garden window silver forest candle mirror rocket pencil orange bridge "
         "castle dragon engine falcon guitar harbor island jacket kettle ladder marble needle ocean pillow "
         "rabbit saddle tunnel violin wagon yellow zebra anchor basket carpet desert feather glacier hammer "
         "lantern meadow nickel oyster pepper quartz ribbon shadow timber velvet walnut button circle "
         "planet summer winter thunder blanket copper dinner finger ginger honey jungle kitten lemon "
         "monkey napkin parrot puzzle rocket salmon spider tiger turtle valley wizard").split()


@dataclass(frozen=True)
class LanguageSkill:
    """A skill: a generator of ``(fields, answer)``, the phrasings that ask for it, and what it does."""

    name: str
    description: str
    make: Callable[[random.Random], tuple[dict, str]]
    templates: tuple[str, ...]
    heldout: tuple[str, ...]

    def example(self, rng: random.Random, *, heldout: bool = False) -> dict[str, object]:
        """One row: a user message in a seen (or held-out) phrasing, and the exact answer."""
        fields, answer = self.make(rng)
        template = rng.choice(self.heldout if heldout else self.templates)
        return {"messages": [{"role": "user", "content": template.format(**fields)}], "completion": answer,
                "skill": self.name, "template": template, "heldout": heldout}


def _roman(n: int) -> str:
    vals = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"), (40, "XL"),
            (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
    out = ""
    for v, s in vals:
        while n >= v:
            out += s
            n -= v
    return out


def _words(rng, k):
    return rng.sample(WORDS, k)


def _phrase(rng, lo=2, hi=4):
    return " ".join(_words(rng, rng.randint(lo, hi)))


SKILLS: dict[str, LanguageSkill] = {}


def skill(name: str, description: str, templates: list[str], heldout: list[str]) -> Callable:
    """Register the decorated generator as a skill (9 seen phrasings, 3 held out)."""
    def deco(fn: Callable) -> Callable:
        SKILLS[name] = LanguageSkill(name, description, fn, tuple(templates), tuple(heldout))
        return fn
    return deco


@skill("roman", "Write a number (1-39) in Roman numerals.", [
    "Write {n} in Roman numerals.", "Convert {n} to Roman numerals.", "What is {n} in Roman numerals?",
    "Roman numeral for {n}?", "Express the number {n} as a Roman numeral.", "How do you write {n} with Roman numerals?",
    "Give me the Roman numeral for {n}.", "{n} in Roman numerals, please.", "Turn {n} into a Roman numeral.",
], ["Translate the number {n} into Roman numerals.", "Could you show {n} as Roman numerals?",
    "Roman numerals: {n} ="])
def _(rng):
    n = rng.randint(1, 39)
    return {"n": n}, _roman(n)


@skill("number_words", "Spell out a number (0-999) in English words.", [
    "Write {n} in words.", "Spell out the number {n}.", "How do you say {n} in English words?",
    "Convert {n} to words.", "Write the number {n} out in full.", "{n} in words, please.",
    "Express {n} using English words.", "What is {n} written in words?", "Spell {n} in letters.",
], ["Turn the digits {n} into words.", "Could you write out {n} as English words?", "Words for the number {n}?"])
def _(rng):
    n = rng.randint(0, 999)
    return {"n": n}, num2words(n)


@skill("ordinal", "Give the ordinal form of a number (21 -> 21st).", [
    "What is the ordinal form of {n}?", "Write {n} as an ordinal number.", "Ordinal of {n}?",
    "Convert {n} to its ordinal form.", "Give the ordinal for {n}.", "How do you write the ordinal of {n}?",
    "Make {n} an ordinal.", "{n} as an ordinal, please.", "Turn {n} into an ordinal number.",
], ["Which ordinal corresponds to {n}?", "Show {n} with its ordinal suffix.", "Ordinal number: {n} ->"])
def _(rng):
    n = rng.randint(1, 199)
    return {"n": n}, num2words(n, to="ordinal_num")


@skill("add", "Add two whole numbers.", [
    "What is {a} plus {b}?", "Add {a} and {b}.", "Compute {a} + {b}.", "What is the sum of {a} and {b}?",
    "{a} + {b} = ?", "Calculate {a} plus {b}.", "Sum {a} and {b}.", "What do you get when you add {a} to {b}?",
    "Please add {a} and {b} together.",
], ["Find the total of {a} and {b}.", "How much is {a} plus {b}?", "If you add {b} to {a}, what is the result?"])
def _(rng):
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    return {"a": a, "b": b}, str(a + b)


@skill("double", "Double a number.", [
    "What is double {n}?", "Double the number {n}.", "What is twice {n}?", "Multiply {n} by 2.",
    "What is {n} times two?", "Compute 2 x {n}.", "Give me twice the value of {n}.", "Double {n}, please.",
    "What do you get if you double {n}?",
], ["How much is {n} doubled?", "Calculate two times {n}.", "What is {n} multiplied by two?"])
def _(rng):
    n = rng.randint(11, 499)
    return {"n": n}, str(2 * n)


@skill("km_to_m", "Convert kilometres to metres.", [
    "Convert {n} km to metres.", "How many metres are in {n} kilometres?", "{n} kilometres in metres?",
    "What is {n} km in meters?", "Express {n} kilometers in meters.", "Change {n} km into metres.",
    "How many meters is {n} km?", "{n} km = ? m", "Convert {n} kilometres into meters.",
], ["How far is {n} km in metres?", "Give {n} kilometres as a number of metres.", "Kilometres to metres: {n}"])
def _(rng):
    n = rng.randint(1, 99)
    return {"n": n}, str(n * 1000)


@skill("hours_to_minutes", "Convert hours to minutes.", [
    "How many minutes are in {n} hours?", "Convert {n} hours to minutes.", "{n} hours in minutes?",
    "Express {n} hours as minutes.", "What is {n} hours in minutes?", "Change {n} hours into minutes.",
    "{n} h = ? min", "How long is {n} hours in minutes?", "Turn {n} hours into minutes.",
], ["Minutes in {n} hours?", "Give {n} hours as a number of minutes.", "Hours to minutes: {n}"])
def _(rng):
    n = rng.randint(2, 48)
    return {"n": n}, str(n * 60)


@skill("date_us", "Rewrite an ISO date (YYYY-MM-DD) as MM/DD/YYYY.", [
    "Rewrite {d} in US format (MM/DD/YYYY).", "Convert the date {d} to MM/DD/YYYY.", "Write {d} as month/day/year.",
    "Format {d} the American way.", "Change {d} to MM/DD/YYYY format.", "{d} in US date format?",
    "Express the date {d} as MM/DD/YYYY.", "Give {d} in American date notation.", "Convert {d} to US style.",
], ["What is {d} in the month/day/year format?", "Reformat {d} for a US reader.", "US date for {d}:"])
def _(rng):
    y, m, d = rng.randint(1950, 2030), rng.randint(1, 12), rng.randint(1, 28)
    return {"d": f"{y:04d}-{m:02d}-{d:02d}"}, f"{m:02d}/{d:02d}/{y:04d}"


@skill("date_words", "Write an ISO date (YYYY-MM-DD) in words (March 5, 2021).", [
    "Write the date {d} in words.", "Convert {d} to a written date.", "How do you write {d} in words?",
    "Express {d} as month name, day, year.", "Spell out the date {d}.", "{d} as a written-out date?",
    "Write {d} with the month's name.", "Give the date {d} in long form.", "Turn {d} into words.",
], ["Say the date {d} the way a letter would.", "Long form of the date {d}?", "Written date for {d}:"])
def _(rng):
    y, m, d = rng.randint(1950, 2030), rng.randint(1, 12), rng.randint(1, 28)
    return {"d": f"{y:04d}-{m:02d}-{d:02d}"}, f"{MONTHS[m - 1]} {d}, {y}"


@skill("next_day", "Name the day of the week after a given day.", [
    "What day comes after {day}?", "Which day follows {day}?", "Name the day after {day}.",
    "If today is {day}, what day is tomorrow?", "What is the next day after {day}?", "The day after {day} is?",
    "Tell me the day following {day}.", "{day} is followed by which day?", "Day after {day}?",
], ["Today is {day}. What will tomorrow be?", "Which weekday comes right after {day}?", "Next weekday after {day}:"])
def _(rng):
    i = rng.randrange(7)
    return {"day": DAYS[i]}, DAYS[(i + 1) % 7]


@skill("month_name", "Name the month with a given number (3 -> March).", [
    "Which month is month number {n}?", "What is the name of month {n}?", "Name month number {n}.",
    "Month {n} of the year is?", "What month is number {n}?", "Give the name of the {n}th month by number.",
    "Which month has the number {n}?", "Convert month number {n} to its name.", "Month {n}: what is it called?",
], ["If a date says month {n}, which month is that?", "Tell me the month numbered {n}.", "Month name for {n}:"])
def _(rng):
    n = rng.randint(1, 12)
    return {"n": n}, MONTHS[n - 1]


@skill("time_12h", "Convert 24-hour time to 12-hour time with AM/PM.", [
    "Convert {t} to 12-hour time.", "What is {t} in 12-hour format?", "Write {t} with AM or PM.",
    "Express {t} as 12-hour clock time.", "Change {t} to AM/PM format.", "{t} in 12-hour time?",
    "How do you say {t} on a 12-hour clock?", "Convert the 24-hour time {t} to AM/PM.", "Give {t} in 12-hour notation.",
], ["What time is {t} on an ordinary clock?", "Rewrite {t} using AM/PM.", "12-hour time for {t}:"])
def _(rng):
    h, m = rng.randint(0, 23), rng.choice([0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55])
    suffix = "AM" if h < 12 else "PM"
    return {"t": f"{h:02d}:{m:02d}"}, f"{(h % 12) or 12}:{m:02d} {suffix}"


@skill("acronym", "Make an acronym from a phrase.", [
    "Make an acronym from '{p}'.", "What is the acronym of '{p}'?", "Abbreviate '{p}' as an acronym.",
    "Give the initials of '{p}' as an acronym.", "Acronym for '{p}'?", "Turn '{p}' into an acronym.",
    "Form an acronym from the words '{p}'.", "Shorten '{p}' to its acronym.", "Write the acronym for '{p}'.",
], ["What would '{p}' be abbreviated to, using first letters?", "Initialism of '{p}':", "Compress '{p}' into an acronym."])
def _(rng):
    words = _words(rng, rng.randint(2, 4))
    return {"p": " ".join(words)}, "".join(w[0].upper() for w in words)


@skill("title_case", "Write a phrase in title case.", [
    "Write '{p}' in title case.", "Convert '{p}' to title case.", "Capitalize each word of '{p}'.",
    "Title-case the phrase '{p}'.", "Make '{p}' a title.", "Put '{p}' in title case.",
    "Capitalise every word in '{p}'.", "Format '{p}' as a title.", "'{p}' in title case, please.",
], ["Give '{p}' with initial capitals.", "How would '{p}' look as a headline?", "Title case: '{p}' ->"])
def _(rng):
    p = _phrase(rng)
    return {"p": p}, p.title()


@skill("snake_case", "Convert a phrase to snake_case.", [
    "Convert '{p}' to snake_case.", "Write '{p}' in snake case.", "Make '{p}' a snake_case identifier.",
    "snake_case version of '{p}'?", "Turn '{p}' into snake_case.", "Format '{p}' as snake case.",
    "Give '{p}' as a snake_case name.", "What is '{p}' in snake_case?", "Rewrite '{p}' using snake_case.",
], ["Name a Python variable for '{p}' in snake case.", "Join '{p}' with underscores, lower case.", "snake_case: '{p}' ->"])
def _(rng):
    p = _phrase(rng)
    return {"p": p.title() if rng.random() < 0.5 else p}, p.lower().replace(" ", "_")


@skill("camel_case", "Convert a phrase to camelCase.", [
    "Convert '{p}' to camelCase.", "Write '{p}' in camel case.", "Make '{p}' a camelCase identifier.",
    "camelCase version of '{p}'?", "Turn '{p}' into camelCase.", "Format '{p}' as camel case.",
    "Give '{p}' as a camelCase name.", "What is '{p}' in camelCase?", "Rewrite '{p}' using camelCase.",
], ["Name a JavaScript variable for '{p}' in camel case.", "Join '{p}' in lower camel case.", "camelCase: '{p}' ->"])
def _(rng):
    words = _words(rng, rng.randint(2, 4))
    return {"p": " ".join(words)}, words[0] + "".join(w.title() for w in words[1:])


@skill("upper", "Write a phrase in capital letters.", [
    "Write '{p}' in capital letters.", "Convert '{p}' to uppercase.", "Make '{p}' all caps.",
    "Uppercase '{p}'.", "Shout '{p}' in capitals.", "Put '{p}' in upper case.",
    "Capitalize every letter of '{p}'.", "What is '{p}' in uppercase?", "'{p}' in all capital letters, please.",
], ["Rewrite '{p}' using only capital letters.", "Give '{p}' in block capitals.", "UPPERCASE: '{p}' ->"])
def _(rng):
    p = _phrase(rng)
    return {"p": p}, p.upper()


@skill("repeat3", "Repeat a word three times.", [
    "Repeat '{w}' three times.", "Say '{w}' three times.", "Write the word '{w}' three times.",
    "Echo '{w}' three times.", "Give me '{w}' repeated three times.", "Triple the word '{w}'.",
    "Print '{w}' 3 times.", "Write '{w}' thrice.", "Repeat the word '{w}' 3 times, separated by spaces.",
], ["Say '{w}', then say it twice more.", "Three copies of '{w}', please.", "'{w}' x3:"])
def _(rng):
    w = rng.choice(WORDS)
    return {"w": w}, f"{w} {w} {w}"


@skill("last_word", "Give the last word of a phrase.", [
    "What is the last word of '{p}'?", "Give the final word in '{p}'.", "Which word ends '{p}'?",
    "Return the last word of '{p}'.", "What word comes last in '{p}'?", "Last word of '{p}'?",
    "Tell me the final word of '{p}'.", "Extract the last word from '{p}'.", "Name the last word in '{p}'.",
], ["Which word is at the end of '{p}'?", "Pick out the closing word of '{p}'.", "Final word: '{p}' ->"])
def _(rng):
    p = _phrase(rng, 3, 5)
    return {"p": p}, p.split()[-1]


@skill("word_count", "Count the words in a phrase.", [
    "How many words are in '{p}'?", "Count the words in '{p}'.", "What is the word count of '{p}'?",
    "Number of words in '{p}'?", "How many words does '{p}' have?", "Tell me how many words '{p}' contains.",
    "Count how many words are in the phrase '{p}'.", "Word count for '{p}'?", "How long is '{p}' in words?",
], ["What is the number of words in '{p}'?", "Give the count of words in '{p}'.", "Words in '{p}':"])
def _(rng):
    p = _phrase(rng, 2, 7)
    return {"p": p}, str(len(p.split()))


@skill("email_domain", "Give the domain of an email address.", [
    "What is the domain of {e}?", "Extract the domain from {e}.", "Which domain is {e} at?",
    "Give the email domain of {e}.", "Domain of the address {e}?", "What domain does {e} use?",
    "Return the domain part of {e}.", "Tell me the domain in {e}.", "From {e}, what is the domain?",
], ["Which website's mail server would {e} go to?", "Pull the domain out of {e}.", "Domain: {e} ->"])
def _(rng):
    user, host = rng.choice(WORDS), rng.choice(WORDS)
    tld = rng.choice(["com", "org", "net", "io", "dev"])
    return {"e": f"{user}@{host}.{tld}"}, f"{host}.{tld}"


@skill("commas", "Write a large number with thousands separators.", [
    "Write {n} with commas.", "Add thousands separators to {n}.", "Format {n} with commas.",
    "Put commas in the number {n}.", "How is {n} written with digit grouping?", "Format the number {n} for readability.",
    "Insert commas into {n}.", "{n} with thousands separators?", "Group the digits of {n} with commas.",
], ["Make {n} easier to read with commas.", "Write {n} the way a bank statement would.", "Comma-separated: {n} ->"])
def _(rng):
    n = rng.randint(1000, 99_999_999)
    return {"n": n}, f"{n:,}"


@skill("binary", "Write a number (0-63) in binary.", [
    "Write {n} in binary.", "Convert {n} to binary.", "What is {n} in base 2?", "Binary representation of {n}?",
    "Express {n} as a binary number.", "How is {n} written in binary?", "Give {n} in base two.",
    "Turn {n} into binary.", "{n} in binary, please.",
], ["What bits represent {n}?", "Show the base-2 form of {n}.", "Binary: {n} ->"])
def _(rng):
    n = rng.randint(0, 63)
    return {"n": n}, format(n, "b")


@skill("sort_numbers", "Sort a list of numbers in ascending order.", [
    "Sort these numbers: {xs}.", "Put {xs} in ascending order.", "Order {xs} from smallest to largest.",
    "Sort {xs} in increasing order.", "Arrange {xs} from low to high.", "What is {xs} sorted?",
    "List {xs} in ascending order.", "Sort the list {xs}.", "Rearrange {xs} smallest first.",
], ["Can you order {xs} so the smallest comes first?", "Increasing order of {xs}?", "Sorted: {xs} ->"])
def _(rng):
    xs = rng.sample(range(1, 100), rng.randint(3, 5))
    return {"xs": ", ".join(map(str, xs))}, ", ".join(map(str, sorted(xs)))


@skill("max_number", "Give the largest number of a list.", [
    "What is the largest of {xs}?", "Which is the biggest number in {xs}?", "Find the maximum of {xs}.",
    "Give the max of {xs}.", "Largest number among {xs}?", "Which of {xs} is greatest?",
    "Return the highest value in {xs}.", "What is the maximum in {xs}?", "Pick the biggest of {xs}.",
], ["Out of {xs}, which number is the largest?", "Top value of {xs}?", "Max: {xs} ->"])
def _(rng):
    xs = rng.sample(range(1, 100), rng.randint(3, 5))
    return {"xs": ", ".join(map(str, xs))}, str(max(xs))


@skill("reverse_words", "Reverse the order of the words in a phrase.", [
    "Reverse the word order of '{p}'.", "Write the words of '{p}' in reverse order.", "Reverse the words in '{p}'.",
    "Put the words of '{p}' backwards.", "Flip the order of the words in '{p}'.", "Read '{p}' word by word from the end.",
    "What is '{p}' with its words reversed?", "Reverse '{p}' word by word.", "Give the words of '{p}' last to first.",
], ["Say '{p}' with the words in the opposite order.", "Backwards word order of '{p}'?", "Words reversed: '{p}' ->"])
def _(rng):
    p = _phrase(rng, 3, 4)
    return {"p": p}, " ".join(reversed(p.split()))


@skill("spell", "Spell a word letter by letter with hyphens.", [
    "Spell '{w}' letter by letter.", "Spell out '{w}' with hyphens.", "How do you spell '{w}'? Use hyphens.",
    "Write '{w}' one letter at a time.", "Spell the word '{w}'.", "Give the letters of '{w}' separated by hyphens.",
    "Break '{w}' into its letters.", "Letter by letter, spell '{w}'.", "Spell '{w}' for me.",
], ["What letters make up '{w}'? Separate them with hyphens.", "Hyphenate every letter of '{w}'.", "Spelled: '{w}' ->"])
def _(rng):
    w = rng.choice(WORDS)
    return {"w": w}, "-".join(w)


@skill("next_letter", "Give the letter after a letter of the alphabet.", [
    "What letter comes after {c}?", "Which letter follows {c} in the alphabet?", "Next letter after {c}?",
    "Name the letter after {c}.", "What is the letter following {c}?", "The letter after {c} is?",
    "Tell me the letter that follows {c}.", "In the alphabet, what comes after {c}?", "Letter after {c}?",
], ["Which letter is right after {c} in the ABC?", "Give the successor of the letter {c}.", "After {c}:"])
def _(rng):
    i = rng.randrange(25)
    return {"c": string.ascii_uppercase[i]}, string.ascii_uppercase[i + 1]


@skill("file_ext", "Give the extension of a file name.", [
    "What is the extension of {f}?", "Give the file extension of {f}.", "Which extension does {f} have?",
    "Extract the extension from {f}.", "File type extension of {f}?", "What extension is {f}?",
    "Return the extension of the file {f}.", "Tell me the extension in {f}.", "Extension of {f}?",
], ["What comes after the dot in {f}?", "Which file suffix does {f} carry?", "Extension: {f} ->"])
def _(rng):
    ext = rng.choice(["pdf", "txt", "csv", "png", "jpg", "docx", "xlsx", "json", "mp3", "zip", "html", "py"])
    return {"f": f"{rng.choice(WORDS)}_{rng.choice(WORDS)}.{ext}"}, ext


@skill("initials", "Give a person's initials.", [
    "What are the initials of {n}?", "Give the initials of {n}.", "Write {n}'s initials.",
    "Initials for {n}?", "Abbreviate {n} to initials.", "What initials does {n} have?",
    "Turn {n} into initials.", "Tell me the initials of {n}.", "Shorten {n} to initials.",
], ["How would {n} sign with initials only?", "Monogram letters of {n}?", "Initials: {n} ->"])
def _(rng):
    first = rng.choice(["Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Henry", "Irene", "James",
                        "Karen", "Liam", "Maria", "Noah", "Olivia", "Peter", "Rachel", "Samuel", "Tina", "Victor"])
    last = rng.choice(["Smith", "Jones", "Brown", "Taylor", "Wilson", "Evans", "Thomas", "Roberts", "Walker",
                       "Wright", "Green", "Hall", "Wood", "Clarke", "Hughes", "Baker", "Turner", "Parker"])
    return {"n": f"{first} {last}"}, f"{first[0]}.{last[0]}."


@skill("country_code", "Give the two-letter ISO code of a country.", [
    "What is the ISO code of {c}?", "Give the two-letter country code for {c}.", "Country code of {c}?",
    "What is {c}'s ISO 3166 alpha-2 code?", "Which two letters stand for {c}?", "Two-letter code for {c}?",
    "Write the ISO country code of {c}.", "Tell me the alpha-2 code of {c}.", "ISO code for {c}, please.",
], ["Which country code would a passport from {c} show?", "Abbreviate {c} to its ISO code.", "ISO alpha-2: {c} ->"])
def _(rng):
    import pycountry
    names = ["France", "Germany", "Italy", "Spain", "Japan", "China", "India", "Brazil", "Canada", "Mexico",
             "Australia", "Egypt", "Kenya", "Norway", "Sweden", "Poland", "Greece", "Cuba", "Chile", "Peru",
             "Argentina", "Portugal", "Ireland", "Austria", "Denmark", "Finland", "Nigeria", "Morocco",
             "Thailand", "Vietnam"]
    c = rng.choice(names)
    return {"c": c}, pycountry.countries.lookup(c).alpha_2


@skill("minutes_to_clock", "Convert a number of seconds to M:SS.", [
    "Convert {n} seconds to minutes and seconds.", "Write {n} seconds as M:SS.", "How long is {n} seconds in M:SS?",
    "Express {n} seconds in minutes:seconds.", "Format {n} seconds as a clock time.", "{n} seconds in M:SS?",
    "Turn {n} seconds into minutes and seconds.", "Give {n} seconds as m:ss.", "Change {n} s to M:SS format.",
], ["What would a stopwatch show after {n} seconds?", "Minutes and seconds for {n} seconds?", "M:SS: {n} s ->"])
def _(rng):
    n = rng.randint(61, 599)
    return {"n": n}, f"{n // 60}:{n % 60:02d}"


@skill("json_pair", "Write a name and age as a JSON object.", [
    "Write name {n} and age {a} as JSON.", "Make a JSON object with name {n} and age {a}.",
    "Encode name={n}, age={a} as JSON.", "Give a JSON object for {n}, aged {a}.", "JSON for name {n}, age {a}?",
    "Turn name {n} and age {a} into JSON.", "Represent {n} who is {a} as a JSON object.",
    "Serialize name {n} and age {a} to JSON.", "Create JSON with the fields name ({n}) and age ({a}).",
], ["Store {n}, {a} years old, as a JSON record.", "What JSON describes {n} at age {a}?", "JSON: {n}, {a} ->"])
def _(rng):
    n = rng.choice(["Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Henry", "Irene", "James"])
    a = rng.randint(18, 90)
    return {"n": n, "a": a}, f'{{"name": "{n}", "age": {a}}}'


@skill("alphabet_pos", "Give a letter's position in the alphabet.", [
    "What position is the letter {c} in the alphabet?", "Which number letter is {c}?", "Alphabet position of {c}?",
    "Where is {c} in the alphabet?", "Give the position of {c} in the alphabet.", "What is the index of {c} in A-Z?",
    "Letter {c} is which number in the alphabet?", "Number of the letter {c}?", "Tell me where {c} falls in the alphabet.",
], ["Counting from A as 1, what number is {c}?", "Position of {c} among the 26 letters?", "Alphabet index: {c} ->"])
def _(rng):
    i = rng.randrange(26)
    return {"c": string.ascii_uppercase[i]}, str(i + 1)



def get_skill(name: str) -> LanguageSkill:
    try:
        return SKILLS[name]
    except KeyError:
        raise UsageError(f"Unknown language skill {name!r}.", hint=f"Choose one of: {', '.join(SKILLS)}.") from None


def skill_splits(name: str, *, n_train: int = 1024, n_validation: int = 64, n_test: int = 128,
                 seed: int = 0) -> dict[str, list[dict[str, object]]]:
    """One skill's rows: train and validation in seen phrasings, test half in held-out ones (disjoint streams)."""
    skill = get_skill(name)
    base = seed * 1000 + sum(map(ord, name))
    out = {}
    for offset, (split, n) in enumerate((("train", n_train), ("validation", n_validation), ("test", n_test)), 1):
        rng = random.Random(base * 10 + offset)
        out[split] = [skill.example(rng, heldout=split == "test" and i % 2 == 1) for i in range(n)]
    return out
