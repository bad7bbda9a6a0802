"""Rule-based de-identification of free text for the HIPAA Safe Harbor identifiers.

Used for researcher views and exports. Names are found from context (titles, relations, "seen
by", verbs only people do, credentials, a DOB after a name, name-only lines, "and" lists) and a
first-name lexicon (Latin, Greek or Cyrillic capitals), then every other occurrence of a found
name is removed too, in any case; dates keep only the year; ages over 89 become "90+"; a cue
word before a value ("MRN:", "Fax", the state before a ZIP) stays. Patterns favour recall: a
missed identifier is a privacy breach, an over-scrubbed word is an inconvenience. Measured
against Presidio on someone else's corpus by `python -m tests.bench deid` (docs/llm.md): names
without such a cue are missed by the rules, so an optional statistical stage (deid_ner.py, spaCy)
can add its names and places: `scrub(text, ner=...)` or `Scrubber()`; results say which ran.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engines.llm import deid_ner

FIRST_NAMES = frozenset(
    """james john robert michael william david richard joseph thomas charles christopher daniel
    matthew anthony donald steven paul andrew joshua kenneth kevin brian george edward ronald
    timothy jason jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin scott
    brandon benjamin samuel gregory frank alexander raymond patrick jack dennis jerry tyler aaron
    jose adam henry nathan douglas zachary peter kyle walter ethan jeremy harold keith christian
    roger noah gerald carl terry sean austin arthur lawrence jesse dylan bryan joe jordan billy
    bruce albert willie gabriel logan alan juan wayne roy ralph randy eugene vincent russell
    elijah louis bobby philip johnny mary patricia jennifer linda elizabeth barbara susan jessica
    sarah karen nancy lisa betty margaret sandra ashley kimberly emily donna michelle dorothy
    carol amanda melissa deborah stephanie rebecca sharon laura cynthia kathleen amy shirley
    angela helen anna brenda pamela nicole emma samantha katherine christine debra rachel
    catherine carolyn janet ruth maria heather diane virginia julie joyce victoria olivia kelly
    christina lauren joan evelyn judith megan cheryl andrea hannah martha jacqueline frances
    gloria ann teresa kathryn sara janice jean alice madison doris abigail julia judy sophia
    marie denise danielle marilyn beverly isabella theresa diana natalie brittany charlotte
    kayla alexis lori maya priya aisha fatima mohammed ahmed wei li chen yuki hiroshi carlos
    luis miguel sofia lucia elena ivan olga""".split()
)
# Words that are also common names but mostly mean something else in notes.
_AMBIGUOUS = frozenset({"will", "may", "june", "april", "grace", "hope", "faith", "mark", "bill"})


def _letters(upper: bool) -> str:
    """Latin, Greek and Cyrillic letters of one case as a regex class body (names aren't ASCII)."""
    spans = ((0x41, 0x24F), (0x370, 0x3FF), (0x400, 0x52F), (0x1E00, 0x1EFF))
    chars = (chr(c) for a, b in spans for c in range(a, b + 1))
    picked = "".join(ch for ch in chars if (ch.isupper() if upper else ch.islower()))
    return picked  # letters only: nothing to escape inside a class


_UP = f"[{_letters(True)}]"
_LOW = f"[{_letters(False)}]"
# A capitalised name token: Anna, Ólafsdóttir, McKay, O'Brien, L'Heureux, Smith-Jones.
_NAME = rf"(?:{_UP}')?{_UP}{_LOW}+(?:{_UP}{_LOW}+)?(?:-{_UP}{_LOW}+)?(?!\w)"
_PARTICLE = r"(?:(?:van|von|de|der|den|del|della|di|da|du|dos|das|le|la|bin|al|ter|ten)[ \t]+){1,2}"
_FULL = rf"{_NAME}(?:[ \t]+{_UP}\.?(?=[ \t]))?(?:[ \t]+(?:{_PARTICLE})?{_NAME}){{0,2}}"
_TITLES = r"(?i:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)"
_TITLE = re.compile(rf"\b{_TITLES}\.?[ \t]+((?:{_PARTICLE})?{_FULL})")
# Titles before and degrees or generations after a name go with it ("Mrs. Ann Lee PhD").
_BEFORE = re.compile(rf"\b{_TITLES}\.?[ \t]+$")
_AFTER = re.compile(
    r"^[ \t]+(?:Jr|Sr|II|III|IV|MD|DO|DDS|DMD|DVM|PhD|PsyD|RN|NP|Esq|MSW|LCSW)\b\.?"
)
_RELATION = (
    r"(?:wife|husband|spouse|mother|father|mom|mum|dad|parents?|son|daughter|kids?|child|sister|"
    r"brother|sibling|partner|friend|boyfriend|girlfriend|aunt|uncle|cousin|niece|nephew|"
    r"grandmother|grandfather|grandson|granddaughter|grandma|grandpa|stepmother|stepfather|"
    r"fianc[ée]?e?|supervisor|colleague|co-?worker|manager|therapist|psychiatrist|"
    r"psychologist|counsell?or|case manager|social worker|"
    r"roommate|neighbou?r|boss|employer|landlord|landlady|guardian|carer|caregiver|sponsor|"
    r"attorney|lawyer|GP|PCP|nurse|pastor|priest|rabbi|imam|coach|teacher)"
)
_CUE = re.compile(
    r"\b(?:[Pp]atient(?: name)?(?: is)?:?|[Pp]t(?: is)?:?|[Nn]ame:|[Nn]amed|[Cc]alled|"
    r"[Ss]een (?:by|with)|[Ss]igned(?: by)?:?|[Ww]ritten by|[Dd]ictated by|[Rr]eviewed with|"
    r"[Dd]iscussed with|[Aa]ccompanied by|[Bb]rought in by|[Rr]eferred by|[Ss]poke (?:with|to)|"
    r"[Mm]et with|[Tt]alked (?:with|to)|(?:[Ee]mergency )?[Cc]ontact:?|[Aa]ttention:?|[Aa]ttn:?|"
    r"[Cc]lient:?|[Cc]linician:?|[Pp]rovider:?|[Aa]ttending:?|[Cc]c:|n[ée]e|"
    r"[Mm]aiden name(?: is)?:?|(?:[Cc]all|[Cc]alls) me|[Nn]ame\?|[Pp]er|"
    r"(?:[Vv]isit|[Ss]ession|[Aa]ppointment|[Cc]all|[Mm]eeting) with|[Mm]y name is|"
    r"(?:[Hh]i|[Hh]ello|[Dd]ear|[Tt]hanks|[Tt]hank you),?|(?:says|said|asked|according to)|"
    r"(?:[Aa]greed|[Ff]ollow(?:ed)? up|[Ff]/[Uu]|[Cc]hecked in|[Ww]orking|[Ll]iaised) with|"
    r"(?:[Dd]ivorced?|[Ss]eparated) from|[Mm]arried to|[Ee]ngaged to|[Ww]idow(?:er)? of|"
    rf"(?i:{_RELATION})\s*[,:(]?)[ \t]*"
    rf"(?!{_TITLES}\b)({_FULL})"
)
# "Anna's daughter", "Anna and her fiance", "Tom Berg (neighbour)": a name beside a relation.
_POSSESSOR = re.compile(
    rf"\b({_FULL})(?:['’]s\s+|\s+and\s+(?:his|her|their)\s+|\s*\((?:his |her |pt's )?)"
    rf"{_RELATION}\b"
)
# "by Doreen Nacht": by and exactly two capitalised words (three are usually an organisation).
_BY = re.compile(rf"\bby[ \t]+({_NAME}[ \t]+(?:{_PARTICLE})?{_NAME})(?![ \t]+{_UP})")
# A name as the subject of a verb that only people do in notes ("Anna reports", "Li is a
# 34-year-old"): drugs, scores and sections are not said to deny, report or attend.
_SUBJECT = re.compile(
    rf"(?<![\w.'’])((?:{_PARTICLE})?{_FULL})\s+(?:reports|reported|denies|denied|endorses|endorsed|states|"
    r"stated|presents|presented|attended|attends|agrees|agreed|declined|"
    r"refuses|refused|complains|complained|describes|described|admits|admitted to|says|said|"
    r"arrived|tells|told|feels|felt|thinks|believes|wants|wanted|lives|lived|"
    r"missed|cancell?ed|returned|called|emailed|texted|was brought|was seen|was tearful|"
    r"was admitted|was discharged|was referred|is (?:a|an) \d{1,3}[- ]?(?:year|yo|y/o)|"
    r"slept|ate|cried|shouted|screamed|laughed|smiled|phoned|asked|left the|stayed|"
    # states of mind and manner said of people, not of drugs or scores
    r"(?:is|was|seems|seemed|appears|appeared) (?:late|absent|tearful|calm|anxious|agitated|"
    r"irritable|pleasant|cooperative|co-operative|guarded|withdrawn|upset|angry|sad|happy|"
    r"quiet|unwell|polite|hostile|distressed|euphoric|grandiose|paranoid|suspicious|"
    r"dishevell?ed|unkempt|drowsy|intoxicated|sober|reluctant|willing|motivated|engaged|"
    r"ambivalent|hopeful|worried|frightened|scared|lonely|ashamed|embarrassed|confused))"
)
# "Anna Berg, MD": a name before a professional credential.
_CREDENTIAL = re.compile(
    rf"({_FULL})(?:,?\s+(?:MD|M\.D\.|DO|RN|NP|PCP|GP|PA-C|LCSW|LICSW|LMFT|LPC|LMHC|LPN|PhD|"
    r"PsyD|MSW|APRN|PMHNP|DNP|BCBA|CNS|MBBS|MRCPsych|FRCPC)\b"
    # ... or before a date of birth: "Anna Berg (DOB 3/4/1970)"
    r"|[ \t]*[(,]?[ \t]*(?:DOB|D\.O\.B\.|date of birth)\b)"
)
# "Anna K. Berg": a first name, a middle initial and a surname is a person wherever it stands.
_INITIALLED = re.compile(rf"(?<![\w.])({_NAME}[ \t]+{_UP}\.?[ \t]+(?:{_PARTICLE})?{_NAME})(?![\w])")
# A line that is only a name (letterheads, signature and address blocks): two or three name
# words, none of them a heading word ("Mental Status Exam", "Treatment Plan").
_NAME_LINE = re.compile(
    rf"(?m)^[ \t]*({_NAME}(?:[ \t]+{_UP}\.?)?(?:[ \t]+(?:{_PARTICLE})?{_NAME}){{1,2}})[ \t]*$"
)
_HEADING_WORDS = frozenset(
    """history exam examination plan assessment status diagnosis diagnoses medication
    medications allergies review systems impression summary note notes progress treatment
    psychiatric social family medical past present illness chief complaint mental risk safety
    labs laboratory vitals objective subjective disposition recommendations follow goals
    interventions response formulation collateral consent signature addendum discharge
    admission intake physical therapy session patient information info personal contact
    details billing address insurance data results findings problems problem list current
    presenting reason referral services support substance use alcohol legal developmental
    education employment housing strengths barriers sleep mood affect thought content process
    insight judgment judgement cognition orientation appearance behaviour behavior speech
    perception memory attention attestation time date location""".split()
)
_SURNAME_FIRST = re.compile(rf"\b[Nn]ame:\s*({_NAME}),\s+({_FULL})")
# Capitalised words that open sentences or headings in notes: never taken as names by context.
_NOT_NAMES = frozenset(
    """the a an he she they it we i you this that these those there here his her their our my
    your patient pt client mood affect sleep appetite energy speech thought thoughts insight
    judgment judgement plan assessment diagnosis history family mother father today tonight
    yesterday tomorrow staff nursing nurse team doctor physician writer clinician therapist
    everyone someone nobody somebody anyone each both all nothing none one patients parents
    husband wife son daughter brother sister partner police ems security family friends vitamin
    hepatitis type group class stage grade cluster axis schedule appendix section part phase
    level tier step grade unit ward room bay floor""".split()
)
_LEX = re.compile(rf"\b({_NAME})([ \t]+{_NAME})?\b")

_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_YEAR = r"(?:19|20)\d{2}"
_DATE_PATTERNS = [
    re.compile(rf"\b(\d{{1,2}})[/.-](\d{{1,2}})[/.-]({_YEAR}|\d{{2}})\b"),
    re.compile(rf"\b({_YEAR})[/.-](\d{{1,2}})[/.-](\d{{1,2}})\b"),
    re.compile(rf"\b{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?(?:\s+({_YEAR}))?\b"),
    re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS},?(?:\s+({_YEAR}))?\b"),
    re.compile(rf"\b{_MONTHS}\s+({_YEAR})\b"),
    re.compile(r"\b(\d{1,2})/(\d{1,2})\b(?!\s*(?:mg|ml|h|hrs?|days?|weeks?))"),
    # 14-Mar-2024, 14/Mar/24
    re.compile(rf"\b\d{{1,2}}[-/]{_MONTHS}[-/]({_YEAR}|\d{{2}})\b"),
    # A timestamp: the date with its time of day.
    re.compile(rf"\b({_YEAR})-(\d{{1,2}})-(\d{{1,2}})[ T]\d{{1,2}}:\d{{2}}(?::\d{{2}})?\b"),
]
_AGE = re.compile(
    r"\b(?:age[ds]?\s*:?\s*|)(9\d|1[0-2]\d)(?:\s*|-)(?:years?|yrs?|y/?o|year-old)(?:[- ]old)?\b"
    r"|\bage[ds]?\s*:?\s*(9\d|1[0-2]\d)\b",
    re.IGNORECASE,
)
# Street suffixes (USPS Publication 28 names and common abbreviations).
_STREET = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Way|Place|Pl|"
    r"Terrace|Ter|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Alley|Annex|Arcade|Bayou|Beach|Bend|"
    r"Bluffs?|Bottom|Branch|Bridge|Brooks?|Burgs?|Bypass|Camp|Canyon|Cape|Causeway|Centers?|"
    r"Circles|Cliffs?|Club|Commons?|Corners?|Course|Courts|Coves?|Creek|Crescent|Crest|"
    r"Crossing|Crossroad|Curve|Dale|Dam|Divide|Drives|Estates?|Expressway|Expy|Extensions?|"
    r"Falls|Ferry|Fields?|Flats?|Fords?|Forest|Forges?|Forks?|Fort|Freeway|Fwy|Gardens?|"
    r"Gateway|Glens?|Greens?|Groves?|Harbors?|Haven|Heights|Hills?|Hollow|Inlet|Islands?|Isle|"
    r"Junctions?|Keys?|Knolls?|Lakes?|Land|Landing|Light|Lights|Loaf|Locks?|Lodge|Loop|Mall|"
    r"Manors?|Meadows?|Mews|Mills?|Mission|Motorway|Mount|Mountains?|Neck|Orchard|Oval|"
    r"Overpass|Parks?|Pass|Passage|Path|Pike|Pines?|Plains?|Plaza|Points?|Ports?|Prairie|"
    r"Radial|Ramp|Ranch|Rapids?|Rest|Ridges?|River|Roads|Route|Rte|Row|Rue|Run|Shoals?|"
    r"Shores?|Skyway|Springs?|Spurs?|Squares?|Sq|Station|Stravenue|Stream|Streets|Summit|"
    r"Throughway|Trace|Track|Trafficway|Trail|Trl|Trailer|Tunnel|Turnpike|Underpass|Unions?|"
    r"Valleys?|Via|Viaduct|Views?|Villages?|Ville|Vista|Walks?|Wall|Ways|Wells?)"
)
_STATES = (
    r"(?:AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|"
    r"NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|PR|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY)"
)
_STATE_NAMES = (
    r"(?:Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|"
    r"Georgia|Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|"
    r"Massachusetts|Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|"
    r"New Hampshire|New Jersey|New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|"
    r"Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|"
    r"Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming|Puerto Rico)"
)
_SECONDARY = r"(?:Apt|Apartment|Suite|Ste|Unit|Room|Rm|Bldg|Building|Floor|Fl|Lot|Space|#)"
_NAMED_STREET = rf"(?:\d{{1,6}}\s+)?(?:{_NAME}[ \t]+){{1,3}}{_STREET}\b"
_PLACE = rf"{_NAME}(?:[ \t]+{_NAME}){{0,2}}"
# What follows a street in an address: unit, town, state, ZIP, separated by commas or lines
# (and by spaces only when a state or country ends it: "Apt 4 Miami Florida").
_ADDRESS_TAIL = (
    rf"(?:,?[ \t]+{_SECONDARY}\.?[ \t]*#?\d+\w*)*"
    rf"(?:[ \t]*(?:,|\n)[ \t]*,?[ \t]*(?:{_SECONDARY}\.?[ \t]*#?\d+\w*|"
    rf"{_PLACE}(?=[ \t]*(?:[\n,.;)]|$|\d{{5}}\b|{_STATES}\b))|\d{{5}}"
    rf"(?:-\d{{4}})?)\b(?![ \t]*:)){{0,5}}"
    rf"(?:[ \t]+{_PLACE}(?=[ \t,]+(?:{_STATES}|{_STATE_NAMES}|United States|USA)\b))?"
)
# Capitalised words after "in"/"near" that are not places.
_NOT_PLACES = frozenset(
    """january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday english spanish french german
    italian portuguese chinese mandarin cantonese arabic russian polish hindi urdu japanese
    korean vietnamese tagalog somali the a an his her their our my this that group therapy
    crisis remission dr mr mrs ms room unit ward bay floor clinic hospital session person
    school college treatment care custody court jail prison detox rehab recovery""".split()
)
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("EMAIL", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("URL", re.compile(r"\b(?:https?://|www\.)[^\s<>\"]+[^\s<>\".,;:)]", re.IGNORECASE)),
    ("IP", re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b|\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b")),
    ("SSN", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    (
        "FAX",
        re.compile(
            r"(?i:\bfax\b)[^\d\n]{0,12}(?P<v>(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}\b)"
        ),
    ),
    (
        "PHONE",
        re.compile(
            r"(?:(?:\+?1|\b001)[\s.-]?)?(?:\(\d{3}\)\s?|\b\d{3}[\s.-])\d{3}[\s.-]?\d{4}"
            r"(?:\s?(?:x|ext\.?|extension)\s?\d{1,5})?(?![\w])"
        ),
    ),
    # International: +41 (0)42 026 04 70, +44 7700 900123, +91 98765 43210
    (
        "PHONE",
        re.compile(
            r"\+\d{1,3}[ .-]?(?:\(0\)[ .-]?)?\(?\d{1,4}\)?(?:[ .-]?\d{2,5}){1,4}"
            r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\w])"
        ),
    ),
    # Trunk-prefixed national numbers: (07700) 900 123, (020) 7946 0018
    ("PHONE", re.compile(r"\(0\d{1,4}\)\s?\d{3,4}\s?\d{3,4}\b")),
    # UK mobiles: 07700 900123, 07700 900 123
    ("PHONE", re.compile(r"\b07\d{3}[ ]?\d{3}[ ]?\d{3}\b")),
    (
        "ID",
        re.compile(
            r"(?i:\b(?:MRN|MR|medical record(?: number| no\.?| #)?|med(?:ical)? rec(?:ord)?|"
            r"chart|hospital(?: number| no\.?| #)?|patient(?: id| number| no\.?)|case"
            r"(?: number| no\.?)?|acct|account(?: number| no\.?)?|card(?: number| no\.?)?|iban|"
            r"policy|member(?: id)?|insurance(?: id)?|health plan(?: id)?|beneficiary(?: id)?|"
            r"medicaid(?: id)?|medicare(?: id)?|licen[cs]e(?: number| no\.?)?|certificate"
            r"(?: number| no\.?)?|DEA|NPI|serial(?: number| no\.?)?|device(?: id)?|VIN|plate|"
            r"ID|record)\b)\s*(?:#|:|number|no\.?)?\s*#?\s*"
            r"(?P<v>(?=[A-Za-z-]*\d)[A-Za-z0-9][A-Za-z0-9-]{3,})\b"
        ),
    ),
    # Any label that ends in a number word ("Patient identifier", "Unit no.", "Encounter ID",
    # "Ref:", "Reg. #"), and national health numbers by their acronym (NHI, NHS, CHI, UR...):
    # whatever the record is called, its number follows one of these.
    (
        "ID",
        re.compile(
            r"(?:\b(?:[Nn]o|[Nn]um|[Rr]ef)\.|\b(?:No|NO|[Nn]umber|[Nn]um|ID|Id|[Ii]dentifier|"
            r"[Ii]dentification|[Rr]ef|[Rr]eference|NHI|NHS|CHI|IHI|PHN|HCN|OHIP|ULI|MBI|HICN|"
            r"URN?|UHID)\b|#)"
            r"[ \t]*(?:[:#=][ \t]*|is[ \t]+|number[ \t]+|no\.[ \t]*)?#?"
            r"(?P<v>(?=[A-Za-z-]*\d)[A-Za-z0-9][A-Za-z0-9-]{3,})\b"
        ),
    ),
    ("ID", re.compile(r"\b[A-HJ-NPR-Z0-9]{17}\b")),
    ("ID", re.compile(r"\b\d{6,}\b")),
    # Letters mixed with at least four digits: account, licence, IBAN and record numbers.
    ("ID", re.compile(r"\b(?=(?:[A-Za-z]*\d){4})(?=\d*[A-Za-z])[A-Za-z0-9]{7,34}\b")),
    (
        "ADDRESS",
        re.compile(
            rf"\b\d{{1,6}}(?:[ -]\d{{1,6}})?\s+(?:(?:{_NAME}|\d+(?:st|nd|rd|th))[ \t]+){{1,3}}"
            rf"{_STREET}\b\.?{_ADDRESS_TAIL}"
        ),
    ),
    (
        "ADDRESS",
        re.compile(
            rf"\b(?:the )?(?:corner|intersection|junction) of\s+{_NAMED_STREET}\s+(?:and|&)\s+"
            rf"{_NAMED_STREET}"
        ),
    ),
    (
        "ZIP",
        re.compile(
            r"(?i:\b(?:zip|postal|post)\s*(?:code)?\b)[^\d\n]{0,12}(?P<v>\d{5}(?:-\d{4})?)\b"
        ),
    ),
    # A flat or suite on its own (rooms and units alone are usually the ward's, not the home's).
    ("ADDRESS", re.compile(r"\b(?:Apt|Apartment|Suite|Ste)\.?\s*#?\s*\d+[A-Za-z]?\b")),
    # Military and diplomatic post: PSC 1234, Box 5678 / APO AE 09123 / USNS Comfort
    ("ADDRESS", re.compile(r"\b(?:PSC|CMR|Unit)\s+\d+,?\s+Box\s+\d+\b")),
    ("ADDRESS", re.compile(r"\b(?:APO|FPO|DPO)\s+(?:AA|AE|AP)\s+\d{5}(?:-\d{4})?\b")),
    ("ADDRESS", re.compile(rf"\b(?:USS|USNS|USNV|USCGC)\s+{_NAME}(?:[ \t]+{_NAME})?")),
    (
        "ZIP",
        re.compile(
            rf"\b(?:{_STATES}|{_STATE_NAMES}|United States(?: of America)?|USA|U\.S\.A\.)"
            r"[ \t,]*\n?[ \t]*(?P<v>\d{5}(?:-\d{4})?)\b|\b\d{5}-\d{4}\b"
        ),
    ),
    (
        "LOCATION",
        re.compile(
            rf"\b({_NAME}(?:[ \t]+{_NAME}){{0,2}})"
            rf"(?=[ \t]*\n?[ \t]*,[ \t]*(?:{_STATES}|{_STATE_NAMES})\b)"
        ),
    ),
    (
        "LOCATION",
        re.compile(
            # a facility's whole name goes: it points to a place and often a ward
            rf"\b{_NAME}(?:\s+{_NAME}){{0,2}}\s+(?:Hospital|Medical Center|Clinic|"
            rf"Health Center|Infirmary|Sanatorium|Behavioral Health|Family Practice|"
            rf"Medical Practice|Medical Group|Health System)\b"
        ),
    ),
    (
        "LOCATION",
        re.compile(
            rf"(?:(?<=lives in )|(?<=living in )|(?<=moved to )|(?<=moved from )|(?<=born in )|"
            rf"(?<=grew up in )|(?<=resides in )|(?<=from )|(?<=flew to )|(?<=drove to )|"
            rf"(?<=relocated to )|(?<=University of )|(?<=College of )|(?<=County of )|"
            rf"(?<=City of )|(?<=Town of )|(?<=Where: )|(?<=Location: ))"
            rf"(?:{_NAME})(?:[ \t]+{_NAME}){{0,2}}"
        ),
    ),
]
# "in Springfield", "near Cedar Falls": capitalised words after a place preposition.
_IN_PLACE = re.compile(rf"\b(?:in|near)[ \t]+({_NAME}(?:[ \t]+{_NAME}){{0,2}})")


@dataclass(frozen=True)
class PhiSpan:
    """A removed identifier: category and its [start, end) span in the original text."""

    category: str
    start: int
    end: int


@dataclass(frozen=True)
class ScrubResult:
    """De-identified text, the spans that were replaced and the stages that found them
    ("rules", plus "ner:<package> <version>" when the optional NER stage ran)."""

    text: str
    spans: tuple[PhiSpan, ...]
    stages: tuple[str, ...] = ("rules",)


# A statistical stage: text -> (category, start, end) with category NAME or LOCATION
# (engines/llm/deid_ner.NerStage, or any callable of that shape).
Ner = Callable[[str], Sequence[tuple[str, int, int]]]


# "mood 4/10", "pain rated 7/10": a rating out of ten, not a date.
_RATING_CUE = re.compile(
    r"(?i:mood|pain|anxiety|anxious|depress\w*|energy|sleep|stress|craving\w*|irritab\w*|"
    r"rate[sd]?|rating|score[sd]?|scale|level|severity|motivation|concentration|appetite)"
    r"\W{0,3}(?:\w+\W{1,3}){0,2}$"
)


def _is_rating(text: str, m: re.Match[str]) -> bool:
    return m.group().endswith("/10") and bool(
        _RATING_CUE.search(text, max(0, m.start() - 40), m.start())
    )


def _date_year(m: re.Match[str]) -> str:
    years = [g for g in m.groups() if g and re.fullmatch(_YEAR, g)]
    if years:
        return years[0]
    for g in m.groups():
        if g and len(g) == 2 and m.re is _DATE_PATTERNS[0] and g == m.group(3):
            return "[YEAR]"
    return "[DATE]"


# Words that make a capitalised phrase an organisation or a service, not a person.
_ORG_WORDS = frozenset(
    """services service team center centre department dept unit clinic hospital agency court
    police school university college group program programme trust association society
    foundation office inc llc ltd corp company church ministry council board""".split()
)


def _name_ok(candidate: str) -> bool:
    words = [w.lower() for w in candidate.split()]
    if any(w in _ORG_WORDS for w in words):
        return False
    return words[0] not in _NOT_NAMES and words[0] not in _AMBIGUOUS


def _with_affixes(text: str, start: int, end: int) -> tuple[int, int]:
    before = _BEFORE.search(text, max(0, start - 8), start)
    after = _AFTER.search(text[end : end + 10])
    return (before.start() if before else start, end + after.end() if after else end)


# "with Anna Berg and Tom Lee", "Duffy and Rogers": a name joined by "and" to a found one is a
# name (not by a comma: "Seen by Anna Berg, Sertraline continued").
_AND_AFTER = re.compile(rf"(?:[ \t]+and[ \t]+|[ \t]*&[ \t]*)({_FULL})")
_AND_BEFORE = re.compile(rf"((?:{_PARTICLE})?{_FULL})(?:[ \t]+and[ \t]+|[ \t]*&[ \t]*)$")


def _coordinated(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = list(spans)
    todo = list(spans)
    while todo and len(out) < 10 * (len(spans) + 1):
        s, e = todo.pop()
        after = _AND_AFTER.match(text, e)
        before = _AND_BEFORE.search(text, max(0, s - 60), s)
        for m in (after, before):
            if m and _name_ok(m.group(1)) and (m.start(1), m.end(1)) not in out:
                out.append((m.start(1), m.end(1)))
                todo.append((m.start(1), m.end(1)))
    return out


def _find_names(text: str, found: Sequence[tuple[int, int]] = ()) -> list[tuple[int, int]]:
    """Name spans from the rules, plus `found` (the NER stage's), each propagated in the note."""
    spans: list[tuple[int, int]] = list(found)
    for rx in (_TITLE, _CUE, _POSSESSOR, _SUBJECT, _CREDENTIAL, _INITIALLED, _BY):
        for m in rx.finditer(text):
            if rx is _TITLE or _name_ok(m.group(1)):
                spans.append((m.start(1), m.end(1)))
    for m in _NAME_LINE.finditer(text):
        words = [w.strip(".").lower() for w in m.group(1).split()]
        if _name_ok(m.group(1)) and not any(w in _HEADING_WORDS for w in words):
            spans.append((m.start(1), m.end(1)))
    for m in _SURNAME_FIRST.finditer(text):
        spans.append((m.start(1), m.end(2)))
    for m in _LEX.finditer(text):
        first = m.group(1).lower()
        if first in FIRST_NAMES and first not in _AMBIGUOUS:
            spans.append((m.start(), m.end()))
    spans = _coordinated(text, [_with_affixes(text, s, e) for s, e in spans])
    # Propagate: every other occurrence of a found name token is removed too, in any case
    # (a sentence typed in lower case still names the same person).
    tokens = {
        tok
        for s, e in spans
        for tok in re.findall(_NAME, text[s:e])
        if len(tok) > 1 and tok.lower() not in _AMBIGUOUS and tok.lower() not in _NOT_NAMES
    }
    for tok in tokens:
        for m in re.finditer(rf"(?<!\w){re.escape(tok)}(?!\w)", text, re.IGNORECASE):
            spans.append((m.start(), m.end()))
    return spans


# Places Safe Harbor lets stay when a model offers them alone: a state, or the country.
_KEPT_PLACE = re.compile(
    rf"(?:{_STATES}|{_STATE_NAMES}|(?:the )?United States(?: of America)?|USA|U\.S\.A?\.?|US|"
    r"America)",
    re.IGNORECASE,
)


# Words a small NER model takes into a name or place at its edges ("Grandmother Ann",
# "Electronically signed", "Ann Lee   DOB"): cut off, as the rules' own cue words are.
_NER_EDGE_WORDS = _NOT_NAMES | _HEADING_WORDS | {
    "electronically", "driver", "drivers", "producer", "director", "starring", "dear", "regards",
    "sincerely", "signed", "dob", "mrn", "id",
}  # fmt: skip
_NER_PART = re.compile(r"[^\n]+?(?=[ \t]{2,}|\n|$)|[^\n]+$")


def _edge_ok(word: str) -> bool:
    w = re.sub(r"['’]s$", "", word.strip(".,;:()[]\"'’"))
    return (
        re.fullmatch(_NAME, w) is not None
        and w.lower() not in _NER_EDGE_WORDS
        and re.fullmatch(_RELATION, w, re.IGNORECASE) is None
    )


def _clean_ner(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """A model's span cut at line breaks and wide gaps, trimmed to capitalised name words (and
    the particles before them); the first part left is kept."""
    out: list[tuple[int, int]] = []
    for part in _NER_PART.finditer(text, start, end):
        words = [m.span() for m in re.finditer(r"\S+", part.group())]
        dropped: list[tuple[int, int]] = []
        while words and not _edge_ok(part.group()[slice(*words[0])]):
            dropped.append(words.pop(0))
        # ... but a particle the model took in before a surname stays with it ("van der Vlist")
        while (
            words and dropped and re.fullmatch(_PARTICLE, part.group()[slice(*dropped[-1])] + " ")
        ):
            words.insert(0, dropped.pop())
        while words and not _edge_ok(part.group()[slice(*words[-1])]):
            words.pop()
        if words:
            s, e = part.start() + words[0][0], part.start() + words[-1][1]
            while e > s and not text[e - 1].isalnum():
                e -= 1
            if text[s:e].endswith(("'s", "’s")):
                e -= 2
            out.append((s, e))
            break  # the next line's first word is a heading the model ran on into, not a name
    return out


def _ner_spans(text: str, ner: Ner) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(names, places) the NER stage finds, under the rules' policy: states and the country stay,
    and month or language words after "in" are not places."""
    names: list[tuple[int, int]] = []
    places: list[tuple[int, int]] = []
    for cat, start, end in ner(text):
        if not (0 <= start < end <= len(text)):
            continue
        for s, e in _clean_ner(text, start, end):
            value = text[s:e]
            if cat == "NAME":
                names.append((s, e))
            elif cat == "LOCATION":
                if _KEPT_PLACE.fullmatch(value) or value.lower() in _NOT_PLACES:
                    continue
                places.append((s, e))
    return names, places


def find_phi(text: str, ner: Ner | None = None) -> list[tuple[PhiSpan, str]]:
    """All identifier spans with their replacement text (overlaps resolved, longest first);
    with `ner`, its names and places are added to the rules' (names then propagate alike)."""
    found: list[tuple[PhiSpan, str]] = []
    ner_names, ner_places = _ner_spans(text, ner) if ner is not None else ([], [])
    for s, e in ner_places:
        found.append((PhiSpan("LOCATION", s, e), "[LOCATION]"))
    for cat, rx in _PATTERNS:
        for m in rx.finditer(text):
            # Where a pattern names its value ("v"), the cue before it (MRN:, Fax, a state) stays.
            start, end = m.span("v") if "v" in rx.groupindex and m.group("v") else m.span()
            found.append((PhiSpan(cat, start, end), f"[{cat}]"))
    for rx in _DATE_PATTERNS:
        for m in rx.finditer(text):
            if _is_rating(text, m):
                continue
            found.append((PhiSpan("DATE", m.start(), m.end()), _date_year(m)))
    for m in _IN_PLACE.finditer(text):
        if m.group(1).split()[0].lower() not in _NOT_PLACES:
            found.append((PhiSpan("LOCATION", m.start(1), m.end(1)), "[LOCATION]"))
    for m in _AGE.finditer(text):
        found.append((PhiSpan("AGE", m.start(), m.end()), "90+ years"))
    for s, e in _find_names(text, ner_names):
        found.append((PhiSpan("NAME", s, e), "[NAME]"))
    found.sort(key=lambda x: (x[0].start, -(x[0].end - x[0].start)))
    merged: list[tuple[PhiSpan, str]] = []
    for span, rep in found:
        if merged and span.start < merged[-1][0].end:
            prev, prev_rep = merged[-1]
            if span.end > prev.end:
                merged[-1] = (PhiSpan(prev.category, prev.start, span.end), prev_rep)
            continue
        merged.append((span, rep))
    return merged


def scrub(text: str, ner: Ner | None = None) -> ScrubResult:
    """Replace Safe Harbor identifiers: tags for most, the year for dates, '90+' for ages.

    Rules only unless `ner` is given (a deid_ner.NerStage: see Scrubber for the setting)."""
    out: list[str] = []
    pos = 0
    spans = find_phi(text, ner)
    for span, rep in spans:
        out.append(text[pos : span.start])
        out.append(rep)
        pos = span.end
    out.append(text[pos:])
    stages = ("rules",) if ner is None else ("rules", str(getattr(ner, "name", "ner")))
    return ScrubResult("".join(out), tuple(s for s, _ in spans), stages)


class Scrubber:
    """The scrubber with its stages chosen once: the rules, plus the NER stage the setting asks
    for (deid_ner.from_setting: by default spaCy's small English model when it is installed)."""

    def __init__(self, ner_setting: str | None = None, *, ner: Ner | None = None) -> None:
        self.ner: Ner | None = ner if ner is not None else deid_ner.from_setting(ner_setting)

    @property
    def stages(self) -> tuple[str, ...]:
        """The stages every scrub of this scrubber runs."""
        return scrub("", self.ner).stages

    def scrub(self, text: str) -> ScrubResult:
        """scrub(text) with this scrubber's stages."""
        return scrub(text, self.ner)
