"""General chat prompts: what a chat model answers by itself, the router's "none".

Greetings, questions, advice, poems, stories...: in families of phrasings, so that a router's "none" can be
calibrated on some families and its false activation measured on families it never saw.

    >>> from genehub.zoo.general import general_prompts, TEST_FAMILIES
    >>> general_prompts(1, families=TEST_FAMILIES)[0]["messages"][0]["role"]
    'user'
"""

from __future__ import annotations

import random

CONCEPTS = ["photosynthesis", "gravity", "democracy", "inflation", "electricity", "evolution", "friction",
            "vaccination", "recycling", "erosion", "magnetism", "metabolism", "tides", "volcanoes", "rainbows",
            "clouds", "earthquakes", "the internet", "the stock market", "climate change", "black holes",
            "the water cycle", "DNA", "the immune system", "compound interest", "machine learning",
            "the Roman Empire", "jazz", "impressionism", "the printing press", "the moon landing", "renewable energy"]
TOPICS = ["the ocean", "autumn", "a lost key", "friendship", "the city at night", "a cup of coffee", "rain",
          "a mountain hike", "an old library", "the first day of school", "a quiet morning", "the stars",
          "a busy kitchen", "a forgotten song", "winter snow", "a summer festival"]
ANIMALS = ["octopuses", "penguins", "elephants", "owls", "dolphins", "honeybees", "cats", "wolves", "koalas",
           "sharks", "crows", "tortoises", "giraffes", "bats", "ants", "horses"]
TASKS = ["bake bread", "tie a tie", "start running", "learn a new language", "save money", "plant tomatoes",
         "write a cover letter", "fall asleep faster", "clean a cast iron pan", "prepare for an interview",
         "make friends in a new city", "keep houseplants alive", "study for an exam", "change a flat tire",
         "brew good coffee", "organise a small party"]
PLACES = ["Paris", "Tokyo", "the Sahara", "Iceland", "New York", "the Amazon rainforest", "Rome", "Antarctica",
          "the Grand Canyon", "London", "Kyoto", "Cairo", "Sydney", "the Alps", "Lisbon", "Mexico City"]
PEOPLE = ["Marie Curie", "Albert Einstein", "Ada Lovelace", "Leonardo da Vinci", "Isaac Newton",
          "Charles Darwin", "William Shakespeare", "Nelson Mandela", "Frida Kahlo", "Galileo Galilei",
          "Jane Austen", "Nikola Tesla", "Mahatma Gandhi", "Rosalind Franklin", "Mozart", "Cleopatra"]
FOODS = ["pancakes", "lentil soup", "a fruit salad", "pasta with tomato sauce", "guacamole", "banana bread",
         "fried rice", "a vegetable curry", "scrambled eggs", "hummus", "a grilled cheese sandwich", "pizza dough"]

#: family -> phrasings; each family is one kind of request a user makes of a chat model.
FAMILIES: dict[str, tuple[tuple[str, ...], dict[str, list[str]]]] = {
    "explain": (("What is {c}?", "Explain {c} in simple terms.", "Can you tell me about {c}?",
                 "How does {c} work?", "Explain {c} to a ten-year-old.", "Why does {c} matter?"), {"c": CONCEPTS}),
    "greeting": (("Hello!", "Hi there, how are you today?", "Good morning!", "Hey, what's up?",
                  "Hello, how are you doing?", "Hi! Nice to meet you.", "Good evening, how was your day?",
                  "Hey there!", "Greetings!", "Howdy!"), {}),
    "poem": (("Write a short poem about {t}.", "Compose a haiku about {t}.", "Write two lines of verse about {t}.",
              "Give me a limerick about {t}.", "Write a tiny poem on {t}."), {"t": TOPICS}),
    "animal_fact": (("Tell me a fun fact about {a}.", "What is interesting about {a}?", "Share something surprising about {a}.",
                     "How smart are {a}?", "Where do {a} live?", "What do {a} eat?"), {"a": ANIMALS}),
    "how_to": (("How do I {k}?", "What is the best way to {k}?", "Give me three tips to {k}.",
                "Can you help me {k}?", "I want to {k}. Where should I start?", "Any advice on how to {k}?"), {"k": TASKS}),
    "travel": (("What should I see in {p}?", "Tell me about {p}.", "Is {p} worth visiting?",
                "What is the weather like in {p}?", "Plan a day trip to {p}.", "What is {p} famous for?"), {"p": PLACES}),
    "person": (("Who was {w}?", "What is {w} known for?", "Tell me about the life of {w}.",
                "Why is {w} famous?", "Summarise what {w} achieved."), {"w": PEOPLE}),
    "recipe": (("How do I make {f}?", "Give me a recipe for {f}.", "What do I need to cook {f}?",
                "Is {f} healthy?", "Suggest a twist on {f}."), {"f": FOODS}),
    "opinion": (("What do you think about {c}?", "Is {c} a good thing?", "What are the pros and cons of {c}?",
                 "Should I care about {c}?"), {"c": CONCEPTS}),
    "story": (("Tell me a short story about {a}.", "Write a bedtime story featuring {a}.",
               "Invent a fable about {a}.", "Describe a day in the life of {a}."), {"a": ANIMALS}),
    "chat": (("Thank you so much!", "Can you help me with something?", "What can you do?", "Tell me a joke.",
              "I'm feeling a bit tired today.", "What's your favourite colour?", "Do you like music?",
              "Recommend a good book.", "What should I have for dinner?", "I just got a new puppy!",
              "What is the meaning of life?", "Can you keep a secret?"), {}),
}


#: Families the router's "none" is calibrated on; the others are kept for testing false activation.
CALIBRATION_FAMILIES: tuple[str, ...] = ("explain", "greeting", "poem", "animal_fact", "how_to", "travel")
TEST_FAMILIES: tuple[str, ...] = tuple(f for f in FAMILIES if f not in CALIBRATION_FAMILIES)


def general_prompts(n: int, *, families: tuple[str, ...] | None = None, seed: int = 0) -> list[dict[str, object]]:
    """``n`` general chat rows (``messages`` and ``family``), round-robin over ``families`` (default all)."""
    rng = random.Random(seed)
    names = list(families or FAMILIES)
    rows = []
    for i in range(n):
        family = names[i % len(names)]
        templates, slots = FAMILIES[family]
        fields = {k: rng.choice(v) for k, v in slots.items()}
        rows.append({"messages": [{"role": "user", "content": rng.choice(templates).format(**fields)}],
                     "family": family})
    return rows
