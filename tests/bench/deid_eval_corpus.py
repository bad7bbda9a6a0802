"""An evaluation corpus for de-identification made by someone else's generator.

The notes are produced by presidio-evaluator's `PresidioSentenceFaker` (Microsoft's synthetic
PII generator: its Faker providers, its 3,000 FakeNameGenerator person records, its own
span bookkeeping). Each note mixes psychiatric-note sentences written for this corpus in the
generator's ``{{placeholder}}`` syntax (written as a clinician would write, not against the
scrubber's rules) with one of presidio-evaluator's own stock templates. Nothing here imports
the scrubber (engines/llm/deid.py) or its word lists; a unit test checks that.

Each generator entity type is mapped to a HIPAA Safe Harbor category, or to ``None`` when
Safe Harbor does not require its removal (states, countries, years, weekdays, organisations,
nationalities, job titles, ages of 89 or less): those spans are kept as "ignored" so a tool
that also removes them is neither credited nor penalised.

The generated corpus is frozen in deid_eval_corpus.json (so the bench and the tests run without
the generator installed); `generate()` rebuilds it from the seed with the pinned packages in
requirements/bench-deid.txt: `python -m tests.bench.deid_eval_corpus` rewrites the file.
"""

from __future__ import annotations

import json
import random
import re
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

SEED = 20
N_NOTES = 300
CLINICAL_PER_NOTE = 5
LOWER_CASE_RATIO = 0.05  # presidio-evaluator's documented default usage
GENERATOR = "presidio-evaluator 0.3.2 PresidioSentenceFaker (Faker 40.63.0, locale en_US)"
FROZEN = Path(__file__).with_suffix(".json")
HELDOUT_SEED = 21
HELDOUT_NOTES = 100
HELDOUT = FROZEN.with_name("deid_eval_heldout.json")
HELDOUT2_SEED = 22
HELDOUT2 = FROZEN.with_name("deid_eval_heldout2.json")
HELDOUT3_SEED = 23
HELDOUT3 = FROZEN.with_name("deid_eval_heldout3.json")
HELDOUT4_SEED = 24
HELDOUT4 = FROZEN.with_name("deid_eval_heldout4.json")

# Generator entity type -> HIPAA Safe Harbor category (None: not a Safe Harbor identifier).
HIPAA: dict[str, str | None] = {
    "person": "NAME",
    "name": "NAME",
    "first_name": "NAME",
    "last_name": "NAME",
    "first_name_female": "NAME",
    "first_name_male": "NAME",
    "first_name_nonbinary": "NAME",
    "last_name_female": "NAME",
    "last_name_male": "NAME",
    "name_female": "NAME",
    "name_male": "NAME",
    "address": "ADDRESS",
    "street_address": "ADDRESS",
    "street_name": "ADDRESS",
    "building_number": "ADDRESS",
    "secondary_address": "ADDRESS",
    "city": "ADDRESS",
    "zipcode": "ADDRESS",
    "postcode": "ADDRESS",
    "date_of_birth": "DATE",
    "date_time": "DATE",
    "clinic_date": "DATE",
    "phone_number": "PHONE",
    "email": "EMAIL",
    "ssn": "SSN",
    "url": "URL",
    "ip_address": "IP",
    "mrn": "MRN",
    "health_plan_id": "OTHER_ID",
    "credit_card_number": "OTHER_ID",
    "iban": "OTHER_ID",
    "us_driver_license": "OTHER_ID",
    "age": "AGE",  # only ages over 89 are identifiers; see _category
    "state": None,
    "state_abbr": None,
    "country": None,
    "year": None,
    "day_of_week": None,
    "organization": None,
    "nationality": None,
    "nation_man": None,
    "nation_woman": None,
    "nation_plural": None,
    "prefix": None,
    "prefix_female": None,
    "prefix_male": None,
    "job": None,
    "religion": None,
}
CATEGORIES = (
    "NAME",
    "DATE",
    "MRN",
    "PHONE",
    "ADDRESS",
    "EMAIL",
    "SSN",
    "URL",
    "IP",
    "OTHER_ID",
    "AGE",
)

# Psychiatric-note sentences in presidio-evaluator's template syntax.
CLINICAL_TEMPLATES = (
    "Patient: {{name}}   DOB: {{date_of_birth}}   MRN: {{mrn}}",
    "Name: {{last_name}}, {{first_name}}\nMedical record no. {{mrn}}\nDate of service: "
    "{{clinic_date}}",
    "{{first_name}} is a {{age}}-year-old {{job}} referred by her GP for low mood.",
    "{{first_name}} {{last_name}} presented to the crisis team on {{clinic_date}} after an "
    "argument with her partner.",
    "Seen today with his mother, {{name_female}}, who provided collateral history.",
    "{{first_name}} reports sleeping 4-5 hours a night since {{clinic_date}}.",
    "He was discharged from the inpatient unit on {{clinic_date}} and missed the follow-up "
    "on {{clinic_date}}.",
    "Lives alone at {{street_address}}, {{city}}, {{state_abbr}} {{zipcode}}.",
    "Current address: {{address}}",
    "She moved in with her sister in {{city}} last spring and works part time as a {{job}}.",
    "Emergency contact: {{name}} (brother), tel {{phone_number}}.",
    "Safety plan reviewed; she will call {{phone_number}} or her therapist {{name}} if urges "
    "return.",
    "Please fax the discharge summary to {{phone_number}}, attention {{first_name}}.",
    "Collateral from the landlord, {{prefix_male}} {{last_name}}, confirmed the flat was untidy.",
    "{{last_name}} denies suicidal ideation, intent or plan. No access to firearms.",
    "Mood 4/10, affect constricted. {{first_name}} was tearful when discussing the "
    "anniversary of her father's death.",
    "PHQ-9 today 17 (was 21 on {{clinic_date}}). Continue sertraline 150 mg.",
    "Patient emailed the clinic from {{email}} asking to move her appointment.",
    "Portal message sent to {{email}} on {{clinic_date}} with the sleep diary.",
    "SSN {{ssn}} verified at registration.",
    "Social security number: {{ssn}}; Medicaid ID {{health_plan_id}}.",
    "Insurance: {{organization}}, member ID {{health_plan_id}}.",
    "Hospital number {{mrn}} (previous admissions under this number).",
    "Chart #{{mrn}} reviewed; lithium level 0.7 mmol/L on {{clinic_date}}.",
    "Telehealth visit; patient connected from IP {{ip_address}}.",
    "He follows a recovery forum at {{url}} and finds it helpful.",
    "Referred to the peer support group; details at {{url}}.",
    "Born on {{date_of_birth}} in {{city}}; raised by grandparents.",
    "Her husband {{first_name_male}} {{last_name}} works nights and is rarely home.",
    "Father ({{name_male}}) died by suicide when the patient was 12.",
    "{{first_name}}'s daughter {{first_name_female}} is staying with friends this week.",
    "Driver's licence {{us_driver_license}} was suspended after the DUI.",
    "Owes money on card {{credit_card_number}}; financial stress is a major trigger.",
    "Benefits are paid into account {{iban}}, which her brother controls.",
    "Next appointment {{clinic_date}} with Dr. {{last_name}}.",
    "Discussed with {{name}}, attending psychiatrist, who agrees with the plan.",
    "Electronically signed by {{name}}, MD, {{clinic_date}}",
    "Note written by {{first_name}} {{last_name}}, LCSW.",
    "{{age}} y/o widow admitted on {{clinic_date}} with catatonic features.",
    "Grandmother, aged {{age}}, lives at {{street_address}} and cannot care for him.",
    "She used to live at {{building_number}} {{street_name}} but was evicted in {{year}}.",
    "Previously treated at {{organization}} from {{clinic_date}} to {{clinic_date}}.",
    "Contact number on file: {{phone_number}}; prefers texts.",
    "{{name}} was brought in by police on {{day_of_week}} after being found wandering.",
    "Her case manager, {{name}}, can be reached at {{phone_number}} or {{email}}.",
    "No change since the last visit with {{first_name}} on {{clinic_date}}.",
    "Completed the intake form on {{clinic_date}}; the address given was {{address}}.",
    "Identifies as {{nationality}}; interpreter not required.",
    "Patient's partner, {{first_name}}, attended the session and was supportive.",
    "Mother's maiden name {{last_name_female}}; family history of bipolar disorder.",
)

# Written after the scrubber's rules were last changed and measured once, as a held-out check
# of how the rules generalise to phrasings they were not tuned on.
HELDOUT_TEMPLATES = (
    "S: {{first_name}} states the new job is going ok but she is still not sleeping.",
    "O: Casually dressed, good eye contact. Accompanied by husband {{first_name_male}}.",
    "A/P: 38F with recurrent MDD; {{last_name}} to continue escitalopram 10 mg daily.",
    "Intake completed {{clinic_date}} by {{name}}, intake coordinator.",
    "Pt's sister {{first_name_female}} {{last_name}} phoned the front desk on {{clinic_date}}.",
    "Collateral obtained from {{name}} (neighbor) by phone at {{phone_number}}.",
    "Attempted to reach pt at home number {{phone_number}}; left voicemail.",
    "Pharmacy: {{organization}}, {{street_address}}, {{city}} {{state_abbr}} {{zipcode}}.",
    "Mailing address on file is {{street_address}}, {{city}}.",
    "{{first_name}} and her fiance {{first_name_male}} are expecting their first child in "
    "{{clinic_date}}.",
    "Records requested from Dr {{last_name}} at {{organization}} on {{clinic_date}}.",
    "Psychiatric history: first hospitalised at age 19; most recent admission {{clinic_date}}.",
    "Acct no. {{credit_card_number}} flagged by billing.",
    "Member number {{health_plan_id}}, group 5521.",
    "Encounter ID {{mrn}} / Visit date {{clinic_date}}",
    "Reason for referral (per {{name}}, PCP): worsening panic attacks.",
    "Lives with partner {{name}} in an apartment in {{city}}; has two cats.",
    "{{first_name}} was late again today and blamed the bus.",
    "Writer met with {{first_name}} for 45 minutes.",
    "Her son {{first_name_male}} ({{age}}) helps with shopping.",
    "Per {{first_name}}, the voices started around {{clinic_date}}.",
    "Patient can be emailed at {{email}} for scheduling only.",
    "Video session via {{url}} (patient in {{city}}).",
    "cc: {{name}}, MSW",
    "Reviewed with supervisor {{first_name}} {{last_name}}.",
)

# Written after the last rule change that held-out set 1 prompted; measured once, not tuned on.
HELDOUT2_TEMPLATES = (
    'CC: "I can\'t stop worrying." {{first_name}} {{last_name}}, self-referred.',
    "HPI: {{first_name}} describes a 3-month decline after her divorce from {{name_male}}.",
    "Called {{first_name}}'s mobile ({{phone_number}}) twice, no answer.",
    "Guardian: {{name}}; relationship: aunt; phone {{phone_number}}.",
    "DOB {{date_of_birth}}, seen {{clinic_date}}, next review {{clinic_date}}.",
    "Home: {{address}}",
    "Relocated from {{city}} to be near her daughter {{first_name_female}}.",
    "He has been staying at a motel on {{street_name}} since {{clinic_date}}.",
    "Spoke to {{first_name}} {{last_name}} from the housing office about the arrears.",
    "{{first_name}} {{last_name}} (DOB {{date_of_birth}}) was reviewed in the ED.",
    "Nursing reports {{first_name}} slept poorly and refused breakfast.",
    "Discussed at MDT; plan agreed with {{name}} and {{name}}.",
    "{{first_name}}'s GP is Dr {{last_name}}, {{city}} Family Practice.",
    "PCP: {{name}} — fax {{phone_number}}",
    "MR# {{mrn}}   Adm: {{clinic_date}}   Disch: {{clinic_date}}",
    "Insurance policy {{health_plan_id}} expires {{clinic_date}}.",
    "Emailed the crisis plan to {{email}} at her request.",
    "Joined the group call from {{ip_address}} on {{clinic_date}}.",
    "Uses the CBT-i app ({{url}}) most nights.",
    "Best friend {{first_name}} drove him to the appointment.",
    "Signed, {{first_name}} {{last_name}} RN",
    "Grandfather ({{age}}) lives in a care home in {{city}}.",
    "Addendum {{clinic_date}}: {{first_name}} called to cancel; rebooked for {{clinic_date}}.",
    "Ex-partner {{name_male}} has a restraining order (case {{mrn}}).",
    "SSN on file ends {{ssn}}.",
)

# Written after the last rule change that held-out set 2 prompted; measured once, not tuned on.
HELDOUT3_TEMPLATES = (
    "Presenting problem: {{first_name}} {{last_name}} reports hearing her name called at night.",
    "Interim history: since {{clinic_date}} she has been staying with {{name}} in {{city}}.",
    "Mother {{first_name_female}} worried he is drinking again.",
    "Collateral: brother-in-law {{first_name_male}} {{last_name}}, {{phone_number}}.",
    "Patient identifier {{mrn}}; encounter {{clinic_date}}.",
    "Mrs {{last_name}} attended alone and was tearful throughout.",
    "Her employer, {{organization}}, has offered a phased return from {{clinic_date}}.",
    "{{first_name}} texted the duty line at 02:10 on {{clinic_date}} ({{phone_number}}).",
    "Home visit to {{street_address}}; flat tidy, fridge stocked.",
    "Previous address {{street_address}}, {{city}} {{zipcode}} (evicted).",
    "Med rec completed with pharmacist {{name}}.",
    "{{first_name}} and {{first_name}} (twins, age 6) live with their father.",
    "Lithium level {{clinic_date}}: 0.6. Repeat with {{first_name}} next month.",
    "Dictated but not read: {{name}}, ST4 psychiatry.",
    "Contact via {{email}} or the portal only; do not call {{phone_number}}.",
    "Court date {{clinic_date}}; solicitor is {{name}}.",
    "Pt reports her ex, {{first_name_male}}, has been outside the house.",
    "Social work ({{name}}) to liaise with housing re: {{address}}.",
    "{{last_name}}, {{first_name}} - DOB {{date_of_birth}} - NHI {{mrn}}",
    "He was born in {{city}} and came to the US aged 12.",
    "Telepsychiatry link {{url}} sent; patient joined from {{ip_address}}.",
    "Advance directive witnessed by {{name}} on {{clinic_date}}.",
    "Son {{first_name_male}} ({{age}}) found her and called 911.",
    "Policy number {{health_plan_id}} (secondary insurance).",
    "Taxi booked to {{street_address}} for 3 pm.",
)

# Written before the optional NER stage and the generalised record-number labels were built
# (2026-12-07, issue 20 item 8), by someone who had read held-out set 3's phrasings; measured
# once with every tool, never tuned on.
HELDOUT4_TEMPLATES = (
    "Reason for admission: {{first_name}} {{last_name}} was found by a neighbour in a confused "
    "state on {{clinic_date}}.",
    "Patient ID: {{mrn}}    Ward round {{clinic_date}}",
    "Carer {{name}} manages her medication and visits daily.",
    "Tearful at times; {{first_name}} could not say why.",
    "The family asked that {{name_female}} be the main point of contact ({{phone_number}}).",
    "Transferred from {{city}} General on {{clinic_date}} under section 2.",
    "Ref: {{mrn}}",
    "Family history: maternal uncle {{first_name_male}} had schizophrenia.",
    "Housing officer {{first_name}} {{last_name}} confirmed the tenancy at {{street_address}}.",
    "Unit no. {{mrn}}, bed 14.",
    "He gave his postcode as {{zipcode}} and his address as {{street_address}}, {{city}}.",
    "Liaison nurse {{name}} will review on the ward tomorrow.",
    "{{first_name}} {{last_name}}, 41, presents with low mood and poor appetite.",
    "Outcome of tribunal on {{clinic_date}}: detention upheld; {{name}} represented him.",
    "Her partner {{name_male}} says she has not eaten for three days.",
    "Discharge letter copied to GP ({{name}}) and to {{email}}.",
    "Episode number {{mrn}}; admitted {{clinic_date}} 23:40.",
    "Mobile {{phone_number}}, landline {{phone_number}}.",
    "Collected by {{first_name}} (daughter) at 5 pm.",
    "Known to {{organization}}; key worker {{first_name}} {{last_name}}.",
    "Patient: {{last_name}}, {{first_name}}    Reg. no. {{mrn}}",
    "Last seen by {{name}} in outpatients on {{clinic_date}}.",
    "Lives in a shared house on {{street_name}} with two lodgers.",
    "Remote review over {{url}}; her IP was {{ip_address}}.",
    "{{name}} phoned on {{clinic_date}} to say his brother had stopped his clozapine.",
)

_DATE_FORMATS = (
    "%m/%d/%Y",
    "%-m/%-d/%y",
    "%Y-%m-%d",
    "%B %-d, %Y",
    "%-d %B %Y",
    "%b %-d",
    "%d-%b-%Y",
    "%-m/%-d",
    "%B %-d",
    "%-d %b %Y",
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_FIRST = date(2018, 1, 1)
_SPAN_DAYS = 365 * 8


@dataclass(frozen=True)
class GoldSpan:
    """One labelled entity: generator type, HIPAA category (None: not PHI), span and value;
    source says whether its sentence is a clinical template or one of presidio-evaluator's."""

    entity_type: str
    category: str | None
    start: int
    end: int
    value: str
    source: str = ""


@dataclass(frozen=True)
class EvalNote:
    """A generated note and every entity the generator put in it."""

    text: str
    spans: tuple[GoldSpan, ...]


def _category(entity_type: str, value: str) -> str | None:
    cat = HIPAA.get(entity_type, entity_type.upper())
    if cat == "AGE":
        digits = value.split(".")[0]
        return "AGE" if digits.isdigit() and int(digits) > 89 else None
    return cat


def _clinic_provider() -> type:
    """Faker provider for the clinical identifiers the stock providers lack (seeded by Faker)."""
    from faker.providers import BaseProvider

    class ClinicProvider(BaseProvider):
        def _day(self) -> date:
            return _FIRST + timedelta(days=self.random_int(0, _SPAN_DAYS))

        def clinic_date(self) -> str:
            return self._day().strftime(self.random_element(_DATE_FORMATS))

        def date_time(self) -> str:  # fixed range so the corpus does not change with today
            d = self._day()
            t = datetime(d.year, d.month, d.day, self.random_int(0, 23), self.random_int(0, 59))
            return str(t)

        def day_of_week(self) -> str:  # Faker's own draws from a range that ends now
            return str(self.random_element(_WEEKDAYS))

        def year(self) -> str:
            return str(self.random_int(1990, 2025))

        def mrn(self) -> str:
            fmt = self.random_element(
                ("#######", "########", "00######", "MR######", "??######", "####-####")
            )
            return self.bothify(fmt, letters="ABCDEFGHJKLMNPRSTUVWXYZ")

        def health_plan_id(self) -> str:
            fmt = self.random_element(("???#########", "?########", "###-???-####", "?#?#?#?#?"))
            return self.bothify(fmt, letters="ABCDEFGHJKLMNPRSTUVWXYZ")

    return ClinicProvider


def _region_words(people: Any) -> re.Pattern[str]:
    """States and countries (Faker's and the person file's): not Safe Harbor identifiers."""
    from faker.providers.address.en_US import Provider

    words = {*Provider.states, *Provider.states_abbr, *Provider.countries}
    words |= {*people["state"].dropna(), *people["state_abbr"].dropna(), *people["country"]}
    words |= {*Provider.military_state_abbr}
    alts = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True) if w)
    return re.compile(rf"(?<![\w])(?:{alts})(?![\w])")


def _stock_templates() -> list[str]:
    """presidio-evaluator's own templates that contain at least one Safe Harbor identifier."""
    from presidio_evaluator.data_generator import presidio_templates_file_path

    keep = []
    for line in presidio_templates_file_path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        types = [t.lower() for t in re.findall(r"{{\s*(\w+)\s*}}", line)]
        if any(HIPAA.get(t, "OTHER") not in (None, "AGE") for t in types):
            keep.append(line.replace("\\n", "\n"))
    return keep


def generate(
    n_notes: int = N_NOTES, seed: int = SEED, templates: tuple[str, ...] = CLINICAL_TEMPLATES
) -> list[EvalNote]:
    """Build the corpus with presidio-evaluator (needs requirements/bench-deid.txt)."""
    from presidio_evaluator.data_generator import (
        PresidioSentenceFaker,
        presidio_additional_entity_providers,
    )
    from presidio_evaluator.data_generator.faker_extensions.datasets import (
        load_fake_person_df,
    )
    from presidio_evaluator.data_generator.faker_extensions.providers import HospitalProvider

    random.seed(seed)
    people = load_fake_person_df()
    # Safe Harbor is a US rule: use the generator's US person records (its file also has 30
    # other countries, whose national phone and address formats are out of scope here).
    records = people[people["country"] == "United States"].reset_index(drop=True)
    regions = _region_words(people)
    # HospitalProvider tries the network for its list; no template here uses hospitals.
    providers = [p for p in presidio_additional_entity_providers if p is not HospitalProvider]
    faker = PresidioSentenceFaker(
        "en_US",
        lower_case_ratio=LOWER_CASE_RATIO,
        sentence_templates=["x"],
        entity_providers=[*providers, _clinic_provider()],
        base_records=records,
        entity_type_mapping={k: k for k in HIPAA},
        random_seed=seed,
    )
    sentence_faker = faker._sentence_faker
    stock = _stock_templates()
    rng = random.Random(seed)
    notes = []
    for _ in range(n_notes):
        chosen = rng.sample(templates, CLINICAL_PER_NOTE)
        chosen.insert(rng.randrange(len(chosen) + 1), rng.choice(stock))
        parts: list[str] = []
        spans: list[GoldSpan] = []
        pos = 0
        for template in chosen:
            source = "clinical" if template in templates else "presidio"
            sample = sentence_faker.parse(PresidioSentenceFaker._preprocess_template(template))
            text = sample.full_text
            for sp in sample.spans:
                value = text[sp.start_position : sp.end_position]
                etype = str(sp.entity_type)
                start = pos + sp.start_position
                cat = _category(etype, value)
                spans.append(GoldSpan(etype, cat, start, start + len(value), value, source))
                if etype == "address":  # a state or country inside an address may stay
                    for m in regions.finditer(value):
                        s0 = start + m.start()
                        region = GoldSpan(
                            "region", None, s0, s0 + len(m.group()), m.group(), source
                        )
                        spans.append(region)
            parts.append(text)
            pos += len(text) + 1
        note_text = "\n".join(parts)
        notes.append(EvalNote(note_text, tuple(sorted(spans, key=lambda s: s.start))))
    return notes


def to_json(notes: list[EvalNote], seed: int = SEED) -> dict[str, Any]:
    """The frozen file's content: provenance plus every note and span."""
    return {
        "generator": GENERATOR,
        "seed": seed,
        "lower_case_ratio": LOWER_CASE_RATIO,
        "notes": [
            {
                "text": n.text,
                "spans": [
                    [s.entity_type, s.category, s.start, s.end, s.value, s.source] for s in n.spans
                ],
            }
            for n in notes
        ],
    }


def load(path: Path = FROZEN) -> list[EvalNote]:
    """The frozen corpus (no generator needed)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        EvalNote(n["text"], tuple(GoldSpan(*span) for span in n["spans"])) for n in data["notes"]
    ]


def generate_heldout() -> list[EvalNote]:
    """The held-out corpus: the held-out clinical phrasings, its own seed."""
    return generate(HELDOUT_NOTES, HELDOUT_SEED, HELDOUT_TEMPLATES)


def generate_heldout2() -> list[EvalNote]:
    """The second held-out corpus: phrasings written after the rules were frozen."""
    return generate(HELDOUT_NOTES, HELDOUT2_SEED, HELDOUT2_TEMPLATES)


def generate_heldout3() -> list[EvalNote]:
    """The third held-out corpus: phrasings written after held-out set 2's rule changes."""
    return generate(HELDOUT_NOTES, HELDOUT3_SEED, HELDOUT3_TEMPLATES)


def generate_heldout4() -> list[EvalNote]:
    """The fourth held-out corpus: phrasings written before the NER stage was built."""
    return generate(HELDOUT_NOTES, HELDOUT4_SEED, HELDOUT4_TEMPLATES)


def main() -> None:
    """Regenerate the frozen corpus files."""
    for path, notes, seed in (
        (FROZEN, generate(), SEED),
        (HELDOUT, generate_heldout(), HELDOUT_SEED),
        (HELDOUT2, generate_heldout2(), HELDOUT2_SEED),
        (HELDOUT3, generate_heldout3(), HELDOUT3_SEED),
        (HELDOUT4, generate_heldout4(), HELDOUT4_SEED),
    ):
        text = json.dumps(to_json(notes, seed), ensure_ascii=False, indent=0) + "\n"
        path.write_text(text, encoding="utf-8")
        print(f"wrote {len(notes)} notes to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
