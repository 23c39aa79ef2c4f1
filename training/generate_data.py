"""Generate the synthetic CoNLL-2003-style training set for the nerlens demo model.

Every sentence comes from a hand-written template whose slots are filled from the gazetteers in
``training/data/word_lists.json`` (or from made-up names built from syllables, so that the model
learns to rely on context and not only on memorised names). The output is deterministic for a
given seed.

Usage: python training/generate_data.py [--out training/data/train.jsonl] [--n 10000] [--seed 13]
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from pathlib import Path

# ---------------------------------------------------------------------------------------------
# Gazetteers
# ---------------------------------------------------------------------------------------------

WORDS: dict[str, list[str]] = json.loads(
    (Path(__file__).resolve().parent / "data" / "word_lists.json").read_text(encoding="utf-8")
)
FIRST_NAMES = WORDS["FIRST_NAMES"]
LAST_NAMES = WORDS["LAST_NAMES"]
CITIES = WORDS["CITIES"]
COUNTRIES = WORDS["COUNTRIES"]
MULTIWORD_COUNTRIES = WORDS["MULTIWORD_COUNTRIES"]
REGIONS = WORDS["REGIONS"]
LANDMARKS = WORDS["LANDMARKS"]
COMPANIES = WORDS["COMPANIES"]
COMPANY_SUFFIXES = WORDS["COMPANY_SUFFIXES"]
COMPANY_STEMS = WORDS["COMPANY_STEMS"]
CLUBS = WORDS["CLUBS"]

CLUB_SUFFIXES = ["United", "City", "FC", "Rovers", "Athletic", "Wanderers", "Town", "Albion"]

GOV_ORGS = WORDS["GOV_ORGS"]
UNIVERSITIES = WORDS["UNIVERSITIES"]
PARTIES = WORDS["PARTIES"]
NATIONALITIES = WORDS["NATIONALITIES"]
DEMONYMS_PLURAL = WORDS["DEMONYMS_PLURAL"]
LANGUAGES = WORDS["LANGUAGES"]
EVENTS = WORDS["EVENTS"]
PRODUCTS = WORDS["PRODUCTS"]
AWARDS = WORDS["AWARDS"]
RELIGIONS = WORDS["RELIGIONS"]
SYL_START = WORDS["SYL_START"]
SYL_MID = WORDS["SYL_MID"]
SYL_END = WORDS["SYL_END"]
PLACE_END = WORDS["PLACE_END"]
PLACE_END2 = ["", "", "", " City", " Springs", " Heights", " Falls", " Valley"]

# Non-entity fillers
ROLES = WORDS["ROLES"]
TITLES = WORDS["TITLES"]
NOUNS = WORDS["NOUNS"]
ADJECTIVES = WORDS["ADJECTIVES"]
VERBS = WORDS["VERBS"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = WORDS["MONTHS"]
THINGS = WORDS["THINGS"]
VERBS_SAY = WORDS["VERBS_SAY"]


# ---------------------------------------------------------------------------------------------
# Slot fillers: each returns a list of (word, entity_type_or_None) spans
# ---------------------------------------------------------------------------------------------

Filler = Callable[[random.Random], tuple[str, str | None]]


def _made_up_word(rng: random.Random) -> str:
    parts = [rng.choice(SYL_START)] + [rng.choice(SYL_MID) for _ in range(rng.randint(0, 1))]
    return ("".join(parts) + rng.choice(SYL_END)).capitalize()


def person(rng: random.Random) -> str:
    r = rng.random()
    last = _made_up_word(rng) if rng.random() < 0.2 else rng.choice(LAST_NAMES)
    first = _made_up_word(rng) if rng.random() < 0.1 else rng.choice(FIRST_NAMES)
    if r < 0.08:
        return f"{first} {rng.choice('ABCDEFGHJKLMNPRSTW')}. {last}"
    if r < 0.12:
        return f"{first} {rng.choice(FIRST_NAMES)} {last}"
    if r < 0.16:
        return f"{first} {last}-{rng.choice(LAST_NAMES)}"
    if r < 0.19:
        particle = rng.choice(["van", "de", "von", "van der", "da", "al", "bin", "de la"])
        return f"{first} {particle} {last}"
    return f"{first} {last}"


def surname(rng: random.Random) -> str:
    return _made_up_word(rng) if rng.random() < 0.2 else rng.choice(LAST_NAMES)


def city(rng: random.Random) -> str:
    if rng.random() < 0.12:
        return (_made_up_word(rng)[:-2] + rng.choice(PLACE_END) + rng.choice(PLACE_END2)).strip()
    return rng.choice(CITIES).replace("-", " ") if rng.random() < 0.9 else rng.choice(CITIES)


def country(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return rng.choice(MULTIWORD_COUNTRIES)
    return rng.choice(COUNTRIES).replace("-", " ")


def region(rng: random.Random) -> str:
    return rng.choice(REGIONS)


def landmark(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return from_pattern(LOC_PATTERNS, rng)
    return rng.choice(LANDMARKS)


def location(rng: random.Random) -> str:
    return rng.choice([city, city, country, country, region, landmark])(rng)


def company(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.15:
        return f"{rng.choice(COMPANY_STEMS)} {rng.choice(COMPANY_SUFFIXES)}"
    if r < 0.25:
        return f"{surname(rng)} {rng.choice(COMPANY_SUFFIXES)}"
    if r < 0.3:
        return f"{city(rng)} {rng.choice(['Bank', 'Airport Authority', 'Energy', 'Telecom'])}"
    return rng.choice(COMPANIES)


def club(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return f"{city(rng)} {rng.choice(CLUB_SUFFIXES)}"
    return rng.choice(CLUBS)


ORG_PATTERNS = [
    "{NAT} Football Federation",
    "{NAT} Football Association",
    "{NAT} Medical Association",
    "{NAT} Red Cross",
    "{NAT} Airlines",
    "{NAT} Railways",
    "{NAT} Coast Guard",
    "{NAT} Space Agency",
    "{NAT} Navy",
    "{NAT} Air Force",
    "{NAT} Bankers Association",
    "{NAT} Chamber of Commerce",
    "{NAT} Olympic Committee",
    "{NAT} Broadcasting Corporation",
    "{NAT} National Party",
    "{NAT} Workers Union",
    "{COUNTRY} Airways",
    "{COUNTRY} Meteorological Agency",
    "{COUNTRY} Post",
    "{COUNTRY} Telecom",
    "{COUNTRY} Development Bank",
    "National Bank of {COUNTRY}",
    "Bank of {COUNTRY}",
    "Central Bank of {COUNTRY}",
    "{COUNTRY} Wildlife Service",
    "{COUNTRY} Football Club",
    "{CITY} City Council",
    "{CITY} Stock Exchange",
    "{CITY} Port Authority",
    "{CITY} Symphony Orchestra",
    "{CITY} Police Department",
    "{CITY} Chamber of Commerce",
    "Ministry of {NOUNCAP}",
    "Department of {NOUNCAP}",
    "{LAST} Foundation",
    "{LAST} Institute",
    "{LAST} & {LAST2}",
    "{LAST} Brothers",
    "{STEM} {NOUNCAP} Company",
]
LOC_PATTERNS = [
    "{CITY} Airport",
    "{CITY} province",
    "{LAST} River",
    "Lake {LAST}",
    "Mount {LAST}",
    "{LAST} Bay",
    "{CITY} Valley",
    "{CITY} harbour",
    "{LAST} Island",
    "{LAST} Street",
    "{LAST} Square",
    "{LAST} National Park",
    "{CITY} region",
    "Port {LAST}",
    "St {FIRST}",
    "{LAST} Mountains",
    "{LAST} Sea",
    "{LAST} Desert",
    "{CITY} Bridge",
    "{LAST} Stadium",
]
MISC_PATTERNS = [
    "{NAT} Grand Prix",
    "{NAT} Open",
    "{NAT} Cup",
    "{NAT} Masters",
    "{CITY} Open",
    "{CITY} Marathon",
    "{CITY} Film Festival",
    "{CITY} Motor Show",
    "{CITY} Agreement",
    "{CITY} Accord",
    "{CITY} Declaration",
    "{LAST} Trophy",
    "{LAST} Prize",
    "{LAST} Medal",
    "{NAT} Championship",
    "{NAT} Revolution",
    "{NAT} Civil War",
    "{NAT} Constitution",
    "{NAT} League",
    "{NAT} New Year",
    "{CITY} Games",
    "{CITY} Biennale",
]
PATTERN_PARTS = {
    "NAT": lambda r: r.choice(NATIONALITIES),
    "COUNTRY": lambda r: country(r),
    "CITY": lambda r: city(r),
    "LAST": lambda r: surname(r),
    "LAST2": lambda r: surname(r),
    "FIRST": lambda r: r.choice(FIRST_NAMES),
    "STEM": lambda r: r.choice(COMPANY_STEMS),
    "NOUNCAP": lambda r: r.choice(NOUNS).capitalize(),
}


def from_pattern(patterns: list[str], rng: random.Random) -> str:
    """Fill a name pattern such as '{NAT} Coast Guard'."""
    return " ".join(
        PATTERN_PARTS[part[1:-1]](rng) if part.startswith("{") else part
        for part in rng.choice(patterns).split()
    )


def gov(rng: random.Random) -> str:
    return from_pattern(ORG_PATTERNS, rng) if rng.random() < 0.35 else rng.choice(GOV_ORGS)


def university(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.2:
        return f"University of {city(rng)}"
    if r < 0.3:
        return f"{city(rng)} {rng.choice(['University', 'Institute of Technology', 'College'])}"
    return rng.choice(UNIVERSITIES)


def party(rng: random.Random) -> str:
    return rng.choice(PARTIES)


def organisation(rng: random.Random) -> str:
    return rng.choice([company, company, club, gov, gov, university, party])(rng)


def nationality(rng: random.Random) -> str:
    return rng.choice(NATIONALITIES)


def misc(rng: random.Random) -> str:
    return rng.choice(
        [
            nationality,
            nationality,
            lambda r: r.choice(LANGUAGES),
            lambda r: r.choice(EVENTS),
            lambda r: from_pattern(MISC_PATTERNS, r),
            lambda r: r.choice(PRODUCTS),
            lambda r: r.choice(AWARDS),
            lambda r: r.choice(RELIGIONS),
        ]
    )(rng)


def number(rng: random.Random) -> str:
    return rng.choice(
        [
            str(rng.randint(2, 99)),
            str(rng.randint(100, 9999)),
            f"{rng.randint(1, 99)}.{rng.randint(1, 9)}",
            f"{rng.randint(1, 999):,}",
        ]
    )


SLOTS: dict[str, tuple[Filler, str | None]] = {
    "PER": (person, "PER"),
    "PER2": (person, "PER"),
    "LAST": (surname, "PER"),
    "FIRST": (lambda r: r.choice(FIRST_NAMES), "PER"),
    "CITY": (city, "LOC"),
    "CITY2": (city, "LOC"),
    "COUNTRY": (country, "LOC"),
    "COUNTRY2": (country, "LOC"),
    "REGION": (region, "LOC"),
    "PLACE": (landmark, "LOC"),
    "LOC": (location, "LOC"),
    "LOC2": (location, "LOC"),
    "COMPANY": (company, "ORG"),
    "COMPANY2": (company, "ORG"),
    "CLUB": (club, "ORG"),
    "CLUB2": (club, "ORG"),
    "GOV": (gov, "ORG"),
    "UNI": (university, "ORG"),
    "PARTY": (party, "ORG"),
    "ORG": (organisation, "ORG"),
    "ORG2": (organisation, "ORG"),
    "NAT": (nationality, "MISC"),
    "NAT2": (nationality, "MISC"),
    "NATPL": (lambda r: r.choice(DEMONYMS_PLURAL), "MISC"),
    "LANG": (lambda r: r.choice(LANGUAGES), "MISC"),
    "EVENT": (
        lambda r: r.choice(EVENTS) if r.random() < 0.6 else from_pattern(MISC_PATTERNS, r),
        "MISC",
    ),
    "PRODUCT": (lambda r: r.choice(PRODUCTS), "MISC"),
    "AWARD": (lambda r: r.choice(AWARDS), "MISC"),
    "REL": (lambda r: r.choice(RELIGIONS), "MISC"),
    "MISC": (misc, "MISC"),
    "NUM": (number, None),
    "NUM2": (number, None),
    "YEAR": (lambda r: str(r.randint(1950, 2030)), None),
    "DAY": (lambda r: r.choice(DAYS), None),
    "MONTH": (lambda r: r.choice(MONTHS), None),
    "PCT": (lambda r: f"{r.randint(0, 40)}.{r.randint(0, 9)} percent", None),
    "SCORE": (lambda r: f"{r.randint(0, 5)}-{r.randint(0, 5)}", None),
    "MONEY": (
        lambda r: (
            f"{r.choice(['$', '$', 'euro', '£'])} {r.randint(1, 900)} "
            f"{r.choice(['million', 'billion', 'million', 'thousand'])}"
        ),
        None,
    ),
    "ROLE": (lambda r: r.choice(ROLES), None),
    "TITLE": (lambda r: r.choice(TITLES), None),
    "THING": (lambda r: r.choice(THINGS), None),
    "NOUN": (lambda r: r.choice(NOUNS), None),
    "NOUN2": (lambda r: r.choice(NOUNS), None),
    "ADJ": (lambda r: r.choice(ADJECTIVES), None),
    "VERB": (lambda r: r.choice(VERBS), None),
    "SAY": (lambda r: r.choice(VERBS_SAY), None),
}

# ---------------------------------------------------------------------------------------------
# Templates (space-separated tokens, slots in braces)
# ---------------------------------------------------------------------------------------------

TEMPLATES = """
{PER} , the {NAT} {ROLE} , said on {DAY} that {COMPANY} would cut {NUM} jobs .
{COMPANY} shares fell {PCT} in {CITY} after the company missed profit forecasts .
{PER} scored twice as {CLUB} beat {CLUB2} {SCORE} on {DAY} .
{CLUB} coach {PER} said his side were unlucky not to win in {CITY} .
{COUNTRY} beat {COUNTRY2} {SCORE} in their {EVENT} qualifier in {CITY} on {DAY} .
The {GOV} said on {DAY} it would send aid to {COUNTRY} .
{TITLE} {LAST} arrived in {CITY} for talks with {NAT} officials .
{PER} , who was born in {CITY} , joined {COMPANY} in {YEAR} .
Police in {CITY} arrested {NUM} people after clashes near the {NAT} embassy .
The {NAT} government has rejected the proposal , {PER} told {GOV} .
{COMPANY} agreed to buy {COMPANY2} for {MONEY} , the companies said .
{PER} won the {AWARD} for her work on {LANG} literature .
Voters in {REGION} go to the polls on {DAY} in a closely watched election .
{PARTY} leader {PER} called for early elections in {COUNTRY} .
The {EVENT} will be held in {CITY} in {YEAR} , organisers said .
{NATPL} living in {CITY} celebrated {EVENT} on {DAY} .
{UNI} researchers led by {PER} published the study on {DAY} .
Floods in {REGION} have killed at least {NUM} people , the {GOV} said .
{PER} beat {PER2} {NUM} - {NUM2} in the final of the {EVENT} .
{LAST} said : " We are very happy with the result . "
{LAST} 's goal in the {NUM} th minute gave {CLUB} the lead .
{COMPANY} launched the new {PRODUCT} in {CITY} on {DAY} .
Talks between {COUNTRY} and {COUNTRY2} resumed in {CITY} on {DAY} .
{PER} , a {ROLE} at {UNI} , said the findings were significant .
The {NAT} {ROLE} {PER} resigned on {DAY} .
{COUNTRY} 's central bank raised interest rates by {NUM} basis points .
{PER} told {GOV} that {COMPANY} had done nothing wrong .
Thousands of {NAT} fans travelled to {CITY} for the {EVENT} .
{PER} ( {COUNTRY} ) beat {PER2} ( {COUNTRY2} ) {SCORE} {SCORE} .
{CITY} , {COUNTRY} , {MONTH} {NUM} - {PER} said he would not stand again .
{ORG} and {ORG2} signed an agreement in {CITY} .
The {ROLE} of {COMPANY} , {PER} , stepped down after {NUM} years .
{PER} speaks fluent {LANG} and {LANG} .
Most people in {COUNTRY} are {REL} .
{NAT} troops crossed into {REGION} overnight , the {GOV} said .
{PER} was elected mayor of {CITY} in {YEAR} .
In {YEAR} , {PER} moved to {CITY} to study at {UNI} .
Tourists flock to the {PLACE} every summer .
The ship sank in the {PLACE} off the coast of {COUNTRY} .
{COMPANY} , based in {CITY} , makes parts for the {PRODUCT} .
Shares in {COMPANY} rose {PCT} on the {GOV} .
{CLUB} signed {NAT} midfielder {PER} from {CLUB2} .
{PER} and {PER2} met in {CITY} on {DAY} .
{GOV} inspectors visited the plant near {CITY} last week .
According to {GOV} , {COUNTRY} 's economy grew {PCT} last year .
{PER} drove for {CLUB} at the {EVENT} .
The {NAT} and {NAT2} foreign ministers met in {CITY} .
The {EVENT} final between {CLUB} and {CLUB2} ended {SCORE} .
Prices rose {PCT} in {MONTH} , the statistics office said .
The weather will be sunny on {DAY} with temperatures of {NUM} degrees .
He said the plan would cost about {MONEY} over {NUM} years .
Shares closed lower on {DAY} as investors waited for the inflation data .
The match was postponed because of heavy rain .
Officials said the bridge would reopen next {MONTH} .
The company reported a net profit of {MONEY} for the quarter .
We had dinner with friends and then walked home .
The children went to the park after school .
Nobody was injured in the fire , police said .
The minister said the government would not change its policy .
{CITY} is the capital of {COUNTRY} .
{PER} , {NUM} , was found guilty of fraud by a court in {CITY} .
{PER} visited {CITY} last weekend .
We visited {CITY} last weekend , where {PER} lives .
I met {PER} in {CITY} last year .
My sister works for {COMPANY} in {CITY} .
They flew from {CITY} to {CITY2} on {DAY} .
She grew up in {REGION} before moving to {COUNTRY} .
{PER} has lived in {CITY} since {YEAR} .
{PER} 's new book is about the {EVENT} .
{PER} will succeed {PER2} as {ROLE} of {COMPANY} .
{COMPANY} said it would invest {MONEY} in {COUNTRY} .
Rebels attacked a convoy near {CITY} , killing {NUM} soldiers .
{ORG} has criticised the decision by {GOV} .
The {PARTY} won {NUM} seats in the {GOV} .
{PER} , leader of the {PARTY} , campaigned in {CITY} .
{PER} of {PARTY} said the vote was a victory for {COUNTRY} .
A {NAT} court sentenced {PER} to {NUM} years in prison .
The {NAT} car maker {COMPANY} recalled {NUM} vehicles .
{PER} ran {NUM} km in the {EVENT} in {CITY} .
{PER} finished second behind {PER2} in the {EVENT} .
{LAST} , who plays for {CLUB} , was named in the {NAT} squad .
{CLUB} 's {PER} was sent off in the {NUM} th minute .
The {GOV} in {CITY} approved the budget on {DAY} .
{COMPANY} chief {PER} met {TITLE} {LAST} in {CITY} .
Fighting continued in {REGION} despite the ceasefire .
Heavy snow closed roads across {REGION} and {REGION} .
The {NAT} film won the {AWARD} at the {EVENT} .
{PER} received the {AWARD} in {YEAR} .
{COMPANY} 's {PRODUCT} went on sale in {COUNTRY} on {DAY} .
The {PRODUCT} is popular among {NAT} teenagers .
{NATPL} make up about {PCT} of the population of {CITY} .
{REL} leaders in {COUNTRY} condemned the attack .
The {REL} community of {CITY} gathered for prayers .
{GOV} spokesman {PER} declined to comment .
{PER} , spokesman for {GOV} , said talks would continue .
" This is a great day for {CITY} , " said {PER} .
" We will win , " {LAST} told supporters in {CITY} .
{CITY} ( {ORG} ) - {COMPANY} said on {DAY} it had hired {PER} .
{CITY} {NUM} - {PER} has been appointed {ROLE} of {ORG} .
{PER} , {NUM} , from {CITY} , won the race .
After the {EVENT} , {PER} returned to {CITY} .
The {UNI} team found that the drug reduced deaths by {PCT} .
{PER} studied {LANG} at {UNI} .
Scientists at {UNI} and {UNI} discovered a new species in {REGION} .
The {GOV} mission to {PLACE} launched from {REGION} .
{COUNTRY} and {COUNTRY2} agreed to open a new border crossing .
{PER} flew to {COUNTRY} to meet {TITLE} {LAST} .
Protesters marched through {CITY} on {DAY} against the {NAT} government .
{TITLE} {PER} thanked the people of {CITY} .
{CLUB} won the {EVENT} for the {NUM} th time .
{CLUB} , {CLUB2} and {CLUB} are all chasing {PER} .
{COMPANY} opened a factory in {CITY} , {COUNTRY} .
{COMPANY} and {COMPANY2} are in talks about a merger , sources told {ORG} .
Analysts at {COMPANY} expect the {GOV} to cut rates in {MONTH} .
The {NAT} currency fell to a record low against the dollar .
{PER} is a {NAT} {ROLE} who lives in {CITY} .
{PER} became the first {NAT} woman to win the {AWARD} .
{LAST} thanked {FIRST} for his support .
{FIRST} and {FIRST} were married in {CITY} in {YEAR} .
The {NAT} embassy in {CITY} was closed on {DAY} .
Hundreds of {NAT} migrants arrived in {REGION} by boat .
{PER} , the former {NAT} {ROLE} , died in {CITY} aged {NUM} .
{PER} died on {DAY} at the age of {NUM} .
The {PLACE} burst its banks after days of rain .
Residents of {CITY} were told to stay indoors .
{GOV} said {NUM} cases had been reported in {COUNTRY} .
{COMPANY} will build a plant in {REGION} , creating {NUM} jobs .
{COUNTRY} imports most of its gas from {COUNTRY2} .
{PER} criticised {PER2} for his comments about {NATPL} .
{GOV} and {GOV} officials met in {CITY} to discuss {THING} .
{ORG} said {THING} would be delayed until {MONTH} .
{PER} said {THING} had been agreed with {ORG} .
On {DAY} , {PER} told {ORG} that {THING} was not finished .
{COUNTRY} won the {EVENT} after beating {COUNTRY2} in the final .
{PER} of {COUNTRY} took gold in the women 's {NUM} metres .
{PER} , playing for {CLUB} , hit {NUM} runs against {CLUB2} .
{LAST} took {NUM} wickets as {COUNTRY} beat {COUNTRY2} .
{COUNTRY} : {PER} ( {CLUB} ) , {PER} ( {CLUB} ) , {PER} ( {CLUB} ) .
Results from the {EVENT} on {DAY} : {PER} ( {COUNTRY} ) {NUM} , {PER2} ( {COUNTRY2} ) {NUM2} .
{CLUB} {NUM} {CLUB2} {NUM2}
{COUNTRY} {NUM} {COUNTRY2} {NUM2} ( halftime {SCORE} )
{PER} ( {COUNTRY} ) {NUM}
{ORG} said in a statement : " {THING} is on track . "
{PER} , a {NAT} citizen , was detained at {PLACE} .
{PER} left {COMPANY} to start {COMPANY2} .
{COMPANY} was founded by {PER} in {CITY} in {YEAR} .
{PER} praised the {NAT} and {NAT2} negotiators .
The {NAT} - {NAT2} border has been closed since {YEAR} .
{GOV} troops and {NAT} forces fought near {CITY} .
Temperatures in {CITY} reached {NUM} degrees on {DAY} .
A {NAT} tourist was rescued on the {PLACE} .
{PER} won a seat in the {GOV} for the {PARTY} .
The {PARTY} and the {PARTY} formed a coalition in {REGION} .
Can {PER} lead {CLUB} to the title ?
Why did {COMPANY} leave {COUNTRY} ?
{PER} , {PER2} and {PER} have been called up by {COUNTRY} .
{PER} hopes to compete at the {EVENT} in {CITY} .
Tickets for the {EVENT} sold out within hours .
{PER} played the lead role in the film about {PER2} .
{PER} wrote the novel in {LANG} while living in {CITY} .
{PER} was interviewed by {ORG} in {CITY} .
The festival in {CITY} attracts visitors from across {REGION} .
A spokesman for {COMPANY} in {CITY} said the site would close .
Investors sold {NAT} bonds after the {GOV} decision .
Experts at {ORG} warned that {THING} could be delayed .
{COMPANY} is headquartered in {CITY} and employs {NUM} people .
{PER} joined {PARTY} in {YEAR} and became its leader in {YEAR} .
{PER} , the {CLUB} captain , lifted the trophy .
{PER} and his wife {FIRST} live near {CITY} .
Rescue teams from {COUNTRY} arrived in {CITY} after the earthquake .
A magnitude {NUM} earthquake struck off {REGION} on {DAY} .
{PER} resigned from the board of {COMPANY} .
The museum in {CITY} holds works by {PER} .
{TITLE} {LAST} met {TITLE} {LAST} at the {EVENT} .
{NUM} people died when a bus crashed near {CITY} .
Researchers used the {PRODUCT} to observe the galaxy .
The {NAT} side {CLUB} drew {SCORE} with {CLUB2} .
{PER} said {NATPL} would not accept the deal .
{PER} , who speaks {LANG} , translated the speech .
{COUNTRY} , {COUNTRY2} and {COUNTRY} signed the accord in {CITY} .
{CITY} mayor {PER} said the metro would be extended .
The {ORG} - {ORG2} joint venture is based in {CITY} .
{PER} used to work at {COMPANY} and {COMPANY2} .
{REL} pilgrims travelled to {CITY} for {EVENT} .
{PER} , a {REL} cleric , called for calm .
{LAST} added that the {GOV} would review the case .
It was the first time a {NAT} player had won the {AWARD} .
The {ADJ} {NOUN} was {VERB} after the {NOUN2} , officials said .
Officials {VERB} the {ADJ} {NOUN} on {DAY} , saying the {NOUN2} was not ready .
The {NOUN} and the {NOUN2} were {VERB} because of {ADJ} {NOUN} .
A {ADJ} {NOUN} {VERB} the {NOUN2} late on {DAY} .
{PER} {VERB} the {ADJ} {NOUN} in {CITY} .
{ORG} {VERB} the {NOUN} , citing the {ADJ} {NOUN2} .
The {NAT} {NOUN} {VERB} the {NOUN2} on {DAY} .
{NUM} {NOUN} were {VERB} near {LOC} on {DAY} .
{LAST} {VERB} that the {NOUN} would be {VERB} by {MONTH} .
The {ADJ} {NOUN} in {REGION} has {VERB} the {NOUN2} .
""".strip().splitlines()

FILLER_CLAUSES = [
    ", the {NOUN} said",
    ", according to the {NOUN}",
    "after a {ADJ} {NOUN}",
    "despite the {ADJ} {NOUN}",
    "as the {NOUN} {VERB}",
    "amid {ADJ} {NOUN}",
]
CONNECTORS = [", while", "; meanwhile ,", ", and", ". Earlier ,", ", but"]


def fill(template: str, rng: random.Random) -> tuple[list[str], list[str]]:
    """Fill one template; return words and BIO tags."""
    words: list[str] = []
    tags: list[str] = []
    for token in template.split():
        if token.startswith("{") and token.endswith("}") and token[1:-1] in SLOTS:
            filler, label = SLOTS[token[1:-1]]
            parts = filler(rng).split()
            words.extend(parts)
            if label is None:
                tags.extend("O" for _ in parts)
            else:
                tags.extend([f"B-{label}"] + [f"I-{label}"] * (len(parts) - 1))
        else:
            words.append(token)
            tags.append("O")
    return words, tags


def sentence(rng: random.Random) -> tuple[list[str], list[str]]:
    """One training sentence: usually one template, sometimes two joined by a connector."""
    words, tags = fill(rng.choice(TEMPLATES), rng)
    if rng.random() < 0.12 and words[-1] == ".":
        more_words, more_tags = fill(rng.choice(TEMPLATES), rng)
        if more_words[0] in ("The", "A"):
            more_words[0] = more_words[0].lower()
        conn = rng.choice(CONNECTORS).split()
        words = words[:-1] + conn + more_words
        tags = tags[:-1] + ["O"] * len(conn) + more_tags
    if rng.random() < 0.15 and words[-1] == ".":
        extra_words, extra_tags = fill(rng.choice(FILLER_CLAUSES), rng)
        words = words[:-1] + extra_words + ["."]
        tags = tags[:-1] + extra_tags + ["O"]
    return words, tags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data" / "train.jsonl")
    parser.add_argument("--n", type=int, default=10000, help="number of sentences")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for _ in range(args.n):
            words, tags = sentence(rng)
            fh.write(json.dumps({"tokens": words, "tags": tags}, ensure_ascii=False) + "\n")
    print(f"wrote {args.n} sentences from {len(TEMPLATES)} templates to {args.out}")


if __name__ == "__main__":
    main()
