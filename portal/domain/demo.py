"""The fictional demo data set.

Everyone in it is made up. Personnummer use the serial numbers 980–999 that Skatteverket keeps for
testing (so no real person has them) with valid check digits; HSA-ids use the test prefix TSTNMT.
`small()` returns one intake document (the same format `portal load` reads), so the demo data is
checked by the same validator as any other intake. `patients()` yields the same kind of data patient
by patient, for the large set (1 million certificates).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Callable, Iterable, Iterator

from . import certificate_types as ct
from . import persons as pnr_rules
from .persons import luhn_check_digit

PREFIX = "TSTNMT2321000156-"


def N_(text: str) -> str:
    """Marks a Swedish text for translation where it is shown (the test broker's login page)."""
    return text
CARE = "Vård och behandling"

PROVIDERS = [
    ("VG1", "Region Demoland"),
    ("VG2", "Vårdbolaget Exempel AB"),
    ("VG3", "Region Övningsby"),
]
# (id, name, provider, parent)
UNITS = [
    ("VE10", "Vårdcentralen Norrby", "VG1", None),
    ("VE11", "Norrby rehabmottagning", "VG1", "VE10"),
    ("VE20", "Ortopedkliniken Demostad", "VG1", None),
    ("VE21", "Handkirurgiska mottagningen Demostad", "VG1", "VE20"),
    ("VE30", "Psykiatrimottagningen Söder", "VG1", None),
    ("VE40", "Exempelkliniken City", "VG2", None),
    ("VE41", "Exempelkliniken Arbetsmedicin", "VG2", "VE40"),
    ("VE50", "Övningsby hälsocentral", "VG3", None),
]
UNIT_ADDRESS = {
    "VE10": ("Norrbyvägen 12", "99101", "Demostad", "010-100 10 10"),
    "VE11": ("Norrbyvägen 14", "99101", "Demostad", "010-100 10 11"),
    "VE20": ("Sjukhusgatan 1", "99102", "Demostad", "010-100 20 20"),
    "VE21": ("Sjukhusgatan 1", "99102", "Demostad", "010-100 20 21"),
    "VE30": ("Södra gatan 30", "99103", "Demostad", "010-100 30 30"),
    "VE40": ("Exempelgatan 4", "99201", "Exempelstad", "010-200 40 40"),
    "VE41": ("Exempelgatan 4", "99201", "Exempelstad", "010-200 40 41"),
    "VE50": ("Övningsvägen 5", "99301", "Övningsby", "010-300 50 50"),
}
#: the units' county (län) codes, for Intygsstatistik's report by county: Region Demoland is in Värmland, the
#: private provider in Stockholm (its sub-unit VE41 has none in the directory: "Okänt län"), Region Övningsby
#: in Västra Götaland
UNIT_COUNTY: dict[str, str | None] = {"VE10": "17", "VE11": "17", "VE20": "17", "VE21": "17", "VE30": "17",
                                      "VE40": "01", "VE41": None, "VE50": "14"}


def hsa(local: str) -> str:
    return PREFIX + local


@dataclass(frozen=True)
class DemoStaff:
    local_id: str
    given: str
    family: str
    title: str
    professions: tuple[str, ...] = ()
    position_codes: tuple[tuple[str, str | None], ...] = ()
    rehab_units: tuple[str, ...] = ()  # system role INTYG;Rehab-<unit>
    units: tuple[str, ...] = ()  # commissions "Vård och behandling"
    other_commissions: tuple[tuple[str, str], ...] = ()  # (unit, purpose)
    expired_units: tuple[str, ...] = ()
    statistics_providers: tuple[str, ...] = ()  # system role INTYG;Statistik-<care provider>
    about: str = ""  # what makes this identity interesting (the test broker shows it)
    gender: str | None = None  # "F" or "M", as HSA has it (the doctors', for Intygsstatistik)
    birth_year: int | None = None

    @property
    def hsa_id(self) -> str:
        return hsa(self.local_id)

    @property
    def signs(self) -> bool:
        return bool(self.professions) or bool(self.position_codes)


STAFF = [
    DemoStaff("L001", "Anna", "Berglund", N_("Distriktsläkare"), ("Läkare",), units=("VE10", "VE20"),
              about=N_("Läkare på två vårdenheter (Vårdcentralen Norrby och Ortopedkliniken Demostad)."),
              gender="F", birth_year=1971),
    DemoStaff("L002", "Erik", "Lindqvist", N_("Specialistläkare"), ("Läkare",), units=("VE10",),
              about=N_("Läkare på Vårdcentralen Norrby."),
              gender="M", birth_year=1981),
    DemoStaff("L003", "Sara", "Holm", N_("Överläkare"), (), (("204010", None),), units=("VE20",),
              about=N_("Läkare genom befattningskod 204010, utan legitimation i katalogen."),
              gender="F", birth_year=1962),
    DemoStaff("L004", "Omar", "Haddad", N_("Överläkare"), ("Läkare",), rehab_units=("VE30",), units=("VE30",),
              about=N_("Läkare som också är rehabkoordinator på Psykiatrimottagningen Söder."),
              gender="M", birth_year=1990),
    DemoStaff("L005", "Karin", "Nyström", N_("Företagsläkare"), ("Läkare",), units=("VE40",),
              about=N_("Läkare på Exempelkliniken City (privat vårdgivare)."),
              gender="F", birth_year=1979),
    DemoStaff("L006", "Johan", "Ek", N_("Distriktsläkare"), ("Läkare",), units=("VE50",),
              about=N_("Läkare på Övningsby hälsocentral."),
              gender="M", birth_year=1961),
    DemoStaff("L007", "Mikael", "Sund", N_("AT-läkare"), (), (("203090", "9300005"),), units=("VE10",),
              about=N_("AT-läkare: befattningskod 203090 med gruppförskrivarkod 9300005."),
              gender="M", birth_year=1998),
    DemoStaff("L008", "Greta", "Stål", N_("Läkare"), ("Läkare",), units=("VE10",), expired_units=("VE20",),
              about=N_("Läkare vars uppdrag på Ortopedkliniken har gått ut.")),
    DemoStaff("R001", "Lena", "Forsberg", N_("Rehabkoordinator"), (), (), rehab_units=("VE10",), units=("VE10",),
              about=N_("Rehabkoordinator på Vårdcentralen Norrby.")),
    DemoStaff("R002", "Maria", "Öberg", N_("Rehabkoordinator"), (), (), rehab_units=("VE20",), units=("VE20", "VE30"),
              about=N_("Rehabkoordinator på Ortopedkliniken; uppdrag utan rehabroll på Psykiatrimottagningen.")),
    DemoStaff("R003", "Per", "Åkesson", N_("Rehabkoordinator"), (), (), rehab_units=("VE40",), units=("VE40",),
              about=N_("Rehabkoordinator på Exempelkliniken City.")),
    DemoStaff("S001", "Eva", "Sjöberg", N_("Sjuksköterska"), ("Sjuksköterska",), units=("VE10",),
              about=N_("Sjuksköterska: uppdrag men ingen roll i Rehabstöd.")),
    DemoStaff("N001", "Nils", "Utanuppdrag", N_("Läkare"), ("Läkare",), other_commissions=(("VE10", "Administration"),),
              about=N_("Läkare utan medarbetaruppdrag för vård och behandling."),
              gender="M", birth_year=1973),
    DemoStaff("T001", "Tove", "Uppföljning", N_("Verksamhetsutvecklare"), other_commissions=(("VE10", "Statistik"),),
              about=N_("Medarbetaruppdrag med ändamål Statistik på Vårdcentralen Norrby: verksamhetsstatistik för "
                       "enheten.")),
    DemoStaff("T002", "Gustav", "Regionsson", N_("Utvecklingsledare"), statistics_providers=("VG1",),
              about=N_("Systemrollen INTYG;Statistik för Region Demoland: statistik för hela vårdgivaren.")),
]
DOCTORS_BY_UNIT: dict[str, list[str]] = {}
for _s in STAFF:
    if _s.signs and "Sjuksköterska" not in _s.professions and _s.units:
        for _u in _s.units:
            DOCTORS_BY_UNIT.setdefault(_u, []).append(_s.hsa_id)
for _u, _, _, _parent in UNITS:
    if _parent:
        DOCTORS_BY_UNIT[_u] = DOCTORS_BY_UNIT.get(_parent, [])

GIVEN_F = ["Alma", "Astrid", "Ebba", "Elin", "Freja", "Hanna", "Ida", "Ingrid", "Julia", "Karin", "Linnea", "Maja",
           "Matilda", "Nora", "Saga", "Selma", "Signe", "Stina", "Tove", "Vera", "Wilma", "Yasmin", "Amira", "Leila"]
GIVEN_M = ["Adam", "Albin", "Anton", "Arvid", "Axel", "Elias", "Emil", "Filip", "Gustav", "Hugo", "Isak", "Jonas",
           "Leo", "Lukas", "Melvin", "Nils", "Olle", "Oskar", "Sixten", "Ture", "Viktor", "Ali", "Ahmed", "Mehmet"]
FAMILY = ["Demosson", "Testberg", "Provlund", "Exempelsson", "Övningström", "Prövesson", "Fiktivsson", "Låtsasberg",
          "Påhittad", "Modellund", "Skissgren", "Mönsterberg", "Utkastsson", "Förebildh", "Templund", "Prototypsson"]

DIAGNOSES = [  # (code, text, weight) – a realistic mix for sick leave
    ("F43.8", "Andra specificerade reaktioner på svår stress", 14),
    ("F32.1", "Medelsvår depressiv episod", 10),
    ("F41.1", "Generaliserat ångestsyndrom", 6),
    ("M54.5", "Lumbago", 9),
    ("M75.1", "Rotatorkuffsyndrom", 4),
    ("M17.1", "Annan primär gonartros", 3),
    ("S82.6", "Fraktur på laterala malleolen", 3),
    ("S52.5", "Fraktur på nedre änden av radius", 3),
    ("J06.9", "Akut övre luftvägsinfektion, ospecificerad", 5),
    ("U07.1", "Covid-19, virus identifierat", 2),
    ("C50.9", "Bröstcancer, ospecificerad", 2),
    ("I21.4", "Akut subendokardiell hjärtinfarkt", 1),
    ("G43.0", "Migrän utan aura", 2),
    ("O26.8", "Andra specificerade tillstånd med samband med graviditet", 2),
    ("R53.9", "Sjukdomskänsla och trötthet", 2),
    ("Z73.0", "Utbrändhet", 2),
    ("K50.9", "Crohns sjukdom, ospecificerad", 1),
    ("E11.9", "Diabetes mellitus typ 2 utan komplikationer", 1),
    ("N20.0", "Njursten", 1),
    ("Q65.8", "Andra medfödda deformiteter av höft", 1),
]
_DIAG_WEIGHTS = [d[2] for d in DIAGNOSES]

TEXT_BANK = {
    "functional_impairment": "Nedsatt koncentrationsförmåga och uttalad trötthet. Sömnstörning sedan två månader. "
                             "Bedömningen grundas på undersökning och skattning (MADRS 24).",
    "activity_limitation": "Har svårt att planera och genomföra arbetsuppgifter som kräver uthållig koncentration, "
                           "och att ta in ny information.",
    "treatment": "Samtalsbehandling (KBT) en gång i veckan. Läkemedelsbehandling insatt, uppföljning om fyra veckor.",
    "measures": "Arbetsanpassning med minskad arbetstid och färre kundkontakter. Kontakt med företagshälsovården.",
    "occupation_description": "Undersköterska inom hemtjänst med tunga lyft och oregelbundna arbetstider.",
    "other_information": "Patienten har tidigare varit sjukskriven för liknande besvär.",
}
GENERIC_TEXT = "Enligt undersökning och journaluppgifter."
REVOKE_REASONS = ["Intyget har utfärdats på fel patient.", "Fel i intyget: felaktig sjukskrivningsperiod.",
                  "Intyget har utfärdats av misstag."]
QUESTION_TEXTS = {
    "KOMPLT": ("Komplettering", "Försäkringskassan behöver en tydligare beskrivning av aktivitetsbegränsningen "
                                "i förhållande till patientens arbete."),
    "AVSTMN": ("Avstämningsmöte", "Vi vill bjuda in till ett avstämningsmöte med patienten och arbetsgivaren. "
                                  "Vilka tider passar?"),
    "KONTKT": ("Kontakt", "Handläggaren önskar bli uppringd av intygande läkare angående prognosen."),
    "OVRIGT": ("Övrigt", "Kan ni bekräfta att intyget avser nuvarande arbete och inte arbetssökande?"),
    "PAMINN": ("Påminnelse", "Påminnelse: vi har inte fått svar på vår fråga. Svara senast inom en vecka."),
}


def make_pnr(born: date, serial: int) -> str:
    """A personnummer with Skatteverket's test serial (980–999) and a valid check digit."""
    assert 980 <= serial <= 999
    nine = f"{born:%y%m%d}{serial:03d}"
    return f"{born:%Y%m%d}{serial:03d}{luhn_check_digit(nine)}"


# --- content for any type ------------------------------------------------------------------------

@dataclass
class Context:
    signed: date
    periods: list[dict] = field(default_factory=list)
    diagnoses: list[dict] = field(default_factory=list)
    occupation: str = "NUVARANDE_ARBETE"
    share_diagnosis: bool = True


def _fill_text(q: ct.Question, rng: random.Random, ctx: Context) -> Any:
    text = TEXT_BANK.get(q.id, GENERIC_TEXT)
    return text[: q.max_length] if q.max_length else text


def _fill_date(q: ct.Question, rng: random.Random, ctx: Context) -> Any:
    if "birth" in q.id or "expected" in q.id:
        return (ctx.signed + timedelta(days=rng.randint(60, 200))).isoformat()
    if q.id.endswith("_until") or "until" in q.id:
        return (ctx.signed + timedelta(days=rng.randint(10, 60))).isoformat()
    return (ctx.signed - timedelta(days=rng.randint(0, 30))).isoformat()


def _fill_year(q: ct.Question, rng: random.Random, ctx: Context) -> Any:
    lo, hi = int(q.min or 1950), int(q.max or ctx.signed.year)
    return rng.randint(max(lo, ctx.signed.year - 20), min(hi, ctx.signed.year))


def _fill_integer(q: ct.Question, rng: random.Random, ctx: Context) -> Any:
    lo, hi = int(q.min if q.min is not None else 1), int(q.max if q.max is not None else 12)
    return rng.randint(lo, min(hi, max(lo, 12 if hi > 12 and q.max != 100 else hi)))


def _fill_decimal(q: ct.Question, rng: random.Random, ctx: Context) -> Any:
    lo, hi = float(q.min if q.min is not None else 0.1), float(q.max if q.max is not None else 1.0)
    return round(rng.uniform(lo, min(hi, max(lo, 1.0))), 1)


def _fill_date_range(q: ct.Question, rng: random.Random, ctx: Context) -> Any:
    if ctx.periods:
        return {"start": ctx.periods[0]["start"], "end": ctx.periods[-1]["end"]}
    return {"start": ctx.signed.isoformat(), "end": (ctx.signed + timedelta(days=13)).isoformat()}


def _fill_sick_leave_periods(q: ct.Question, rng: random.Random, ctx: Context) -> Any:
    if ctx.periods and all(p["degree"] in q.degrees for p in ctx.periods):
        return ctx.periods
    start = ctx.signed
    return [{"start": start.isoformat(), "end": (start + timedelta(days=6)).isoformat(), "degree": q.degrees[-1]}]


def _fill_diagnoses(q: ct.Question, rng: random.Random, ctx: Context) -> Any:
    return ctx.diagnoses[: q.max_items or 3]


def _fill_false(q: ct.Question, rng: random.Random, ctx: Context) -> Any:
    return False


def _fill_choice(q: ct.Question, rng: random.Random, ctx: Context) -> Any:
    return q.options[0].value if rng.random() < 0.6 else rng.choice(q.options).value


def _fill_multi_choice(q: ct.Question, rng: random.Random, ctx: Context) -> Any:
    allowed = [o.value for o in q.options if o.value not in q.exclusive]
    if q.role == "occupation" and ctx.occupation in allowed:
        return [ctx.occupation]
    return rng.sample(allowed, k=min(len(allowed), max(q.min_items or 1, 1)))


def _fill_dated_choices(q: ct.Question, rng: random.Random, ctx: Context) -> Any:
    first = q.options[0].value
    return [{"type": first, "date": ctx.signed.isoformat()}]


def _fill_icf(q: ct.Question, rng: random.Random, ctx: Context) -> Any:
    return {"categories": ["b130", "b140"] if q.id == "functional_impairment" else ["d230"],
            "text": TEXT_BANK.get(q.id, GENERIC_TEXT)}


def _fill_rows(q: ct.Question, rng: random.Random, ctx: Context) -> Any:
    return [{f.id: _fill(f, rng, ctx) for f in q.fields if f.required}]


#: a plausible answer, by question kind
_FILLERS: dict[str, Callable[[ct.Question, random.Random, Context], Any]] = {
    "text": _fill_text, "date": _fill_date, "year": _fill_year, "integer": _fill_integer, "decimal": _fill_decimal,
    "date_range": _fill_date_range, "sick_leave_periods": _fill_sick_leave_periods, "diagnoses": _fill_diagnoses,
    "yes_no": _fill_false, "checkbox": _fill_false, "choice": _fill_choice, "multi_choice": _fill_multi_choice,
    "dated_choices": _fill_dated_choices, "icf": _fill_icf, "rows": _fill_rows,
}


def _fill(q: ct.Question, rng: random.Random, ctx: Context) -> Any:
    filler = _FILLERS.get(q.kind)
    if filler is None:  # pragma: no cover
        raise ValueError(q.kind)
    return filler(q, rng, ctx)


def content_for(ctype: ct.CertificateType, rng: random.Random, ctx: Context) -> dict[str, Any]:
    """Valid, plausible content for any type: required answers, and some optional ones."""
    content: dict[str, Any] = {}
    questions = list(ctype.questions())
    for q in questions:
        if q.kind == "diagnoses":
            if q.required or (q.required_when and ctx.share_diagnosis):
                content[q.id] = _fill(q, rng, ctx)
        elif q.role == "diagnosis_consent" or (q.kind == "yes_no" and any(
                o.required_when and o.required_when.question == q.id and o.kind == "diagnoses" for o in questions)):
            content[q.id] = ctx.share_diagnosis
        elif q.required or q.kind in {"sick_leave_periods"} or (q.kind in {"text", "icf"} and q.id in TEXT_BANK):
            content[q.id] = _fill(q, rng, ctx)
    for section in ctype.sections:  # "answer at least one of these"
        if section.at_least_one and not any(q.id in content for q in section.questions):
            content[section.questions[0].id] = _fill(section.questions[0], rng, ctx)
    # answers that became required through another answer
    for _ in range(3):
        for q in questions:
            if q.id not in content and q.required_when and q.required_when.holds(content):
                content[q.id] = _fill(q, rng, ctx)
    return content


# --- patients and their certificates -----------------------------------------------------------

@dataclass
class PatientData:
    person: dict
    certificates: list[dict] = field(default_factory=list)
    relations: list[dict] = field(default_factory=list)
    revocations: list[dict] = field(default_factory=list)
    questions: list[dict] = field(default_factory=list)


class Generator:
    def __init__(self, registry: ct.Registry, today: date, seed: int, id_prefix: str = "demo"):
        self.registry, self.today, self.rng = registry, today, random.Random(seed)
        self.id_prefix = id_prefix
        self.used_pnr: set[str] = set()
        self.counter = 0
        self.qcounter = 0
        self.units = [u for u in UNITS]
        self.unit_provider = {u[0]: u[2] for u in UNITS}

    def new_pnr(self, born: date) -> str:
        for _ in range(50):
            p = make_pnr(born, self.rng.randint(980, 999))
            if p not in self.used_pnr:
                self.used_pnr.add(p)
                return p
            born += timedelta(days=1)
        raise RuntimeError("ran out of test personnummer")  # pragma: no cover

    def cert_id(self) -> str:
        self.counter += 1
        return f"{self.id_prefix}-{self.counter:07d}-{self.rng.getrandbits(32):08x}"

    def person(self, born: date | None = None, female: bool | None = None, **flags) -> dict:
        rng = self.rng
        born = born or (self.today - timedelta(days=rng.randint(18 * 365, 66 * 365)))
        pnr = self.new_pnr(born)
        is_female = int(pnr[10]) % 2 == 0
        given = rng.choice(GIVEN_F if is_female else GIVEN_M)
        return {"personnummer": pnr, "given_name": given, "family_name": rng.choice(FAMILY),
                "protected": flags.get("protected", False), "deceased": flags.get("deceased", False),
                "validation_person": flags.get("validation_person", False)}

    def signed_at(self, day: date) -> str:
        t = time(self.rng.randint(8, 16), self.rng.randint(0, 59), self.rng.randint(0, 59))
        return datetime.combine(day, t).isoformat()

    def certificate(self, pd: PatientData, code: str, unit: str, signed: date, ctx: Context | None = None,
                    doctor: str | None = None) -> dict:
        ctype = self.registry[code]
        ctx = ctx or Context(signed=signed, diagnoses=[self.diagnosis()])
        ctx.signed = signed
        doctor = doctor or self.rng.choice(DOCTORS_BY_UNIT[unit])
        cert = {"id": self.cert_id(), "type": code, "version": ctype.version, "patient": pd.person["personnummer"],
                "staff": doctor, "unit": unit, "signed": self.signed_at(signed),
                "content": content_for(ctype, self.rng, ctx)}
        pd.certificates.append(cert)
        return cert

    def diagnosis(self) -> dict:
        code, text, _ = self.rng.choices(DIAGNOSES, weights=_DIAG_WEIGHTS)[0]
        return {"code": code, "text": text}

    def sick_leave_chain(self, pd: PatientData, unit: str, start: date, *, ongoing: bool, max_certs: int = 5) -> None:
        """A realistic FK7804 chain: first 100 %, renewals stepping 100 → 50 → 25, sometimes a gap."""
        rng = self.rng
        diag = self.diagnosis()
        doctor = rng.choice(DOCTORS_BY_UNIT[unit])
        steps = [100] * rng.randint(1, 2) + [50] * rng.randint(0, 2) + [25] * rng.randint(0, 1)
        n = rng.randint(1, max_certs)
        day = start
        degree_idx = 0
        previous = None
        for i in range(n):
            length = rng.choice([7, 14, 14, 21, 28, 30, 30, 45, 60])
            periods: list[dict[str, Any]] = []
            # sometimes a certificate carries the step down inside itself
            parts = 2 if rng.random() < 0.3 and degree_idx + 1 < len(steps) else 1
            p_start = day
            for _ in range(parts):
                p_len = length if parts == 1 else max(7, length // 2)
                degree = steps[min(degree_idx, len(steps) - 1)]
                p_end = p_start + timedelta(days=p_len - 1)
                periods.append({"start": p_start.isoformat(), "end": p_end.isoformat(), "degree": degree})
                p_start = p_end + timedelta(days=1)
                degree_idx += 1
            signed = min(day, self.today)
            if signed > self.today:
                break
            occupation = rng.choice(["NUVARANDE_ARBETE"] * 6 + ["ARBETSSOKANDE", "FORALDRALEDIG", "STUDIER"])
            ctx = Context(signed=signed, periods=periods, diagnoses=[diag], occupation=occupation)
            cert = self.certificate(pd, "FK7804", unit, signed, ctx, doctor)
            if rng.random() < 0.35 and "AG7804" in self.registry:  # the employer's copy
                ag_ctx = Context(signed=signed, periods=periods, diagnoses=[diag], share_diagnosis=rng.random() < 0.5)
                self.certificate(pd, "AG7804", unit, signed, ag_ctx, doctor)
            previous = cert
            end = date.fromisoformat(periods[-1]["end"])
            gap = rng.choice([0, 0, 0, 0, 1, 2, 3, 8, 12]) if i < n - 1 else 0
            day = end + timedelta(days=1 + gap)
            if day > self.today and not ongoing:
                break
            if date.fromisoformat(periods[0]["start"]) > self.today:
                break
        if previous and ongoing and (
                date.fromisoformat(previous["content"][self._periods_id("FK7804")][-1]["end"]) < self.today):
            # extend so the case is ongoing today
            ctx = Context(signed=self.today - timedelta(days=rng.randint(0, 6)), diagnoses=[diag],
                          periods=[{"start": (self.today - timedelta(days=rng.randint(0, 6))).isoformat(),
                                    "end": (self.today + timedelta(days=rng.randint(7, 45))).isoformat(),
                                    "degree": rng.choice([100, 50, 50, 25])}])
            self.certificate(pd, "FK7804", unit, date.fromisoformat(ctx.periods[0]["start"]), ctx, doctor)

    def _periods_id(self, code: str) -> str:
        q = self.registry[code].first_of_kind("sick_leave_periods")
        return q.id if q else ""

    def questions_for(self, pd: PatientData, cert: dict, unit: str) -> None:
        """FK questions of every subject, some handled, some answered, one complemented."""
        rng = self.rng
        signed = datetime.fromisoformat(cert["signed"])
        sent = min(signed + timedelta(days=rng.randint(1, 10), hours=2), datetime.combine(self.today, time(9)))
        if sent <= signed:
            return
        subject = rng.choice(["KOMPLT", "AVSTMN", "KONTKT", "OVRIGT", "KOMPLT"])
        heading, text = QUESTION_TEXTS[subject]
        self.qcounter += 1
        qid = f"{self.id_prefix}-q-{self.qcounter:07d}"
        question = {"id": qid, "certificate": cert["id"], "subject": subject, "sender": "FK", "heading": heading,
                    "text": text, "sent": sent.isoformat(),
                    "last_answer_date": (sent.date() + timedelta(days=14)).isoformat()}
        pd.questions.append(question)
        roll = rng.random()
        if roll < 0.25 and sent.date() + timedelta(days=3) <= self.today:
            self.qcounter += 1
            rsent = sent + timedelta(days=rng.randint(1, 3))
            if subject == "KOMPLT":  # a new certificate complements the old one: handled
                first = cert["content"][self._diag_id("FK7804")][0]
                ctx = Context(signed=rsent.date(), diagnoses=[{"code": first["code"], "text": first["text"]}],
                              periods=cert["content"][self._periods_id("FK7804")])
                new = self.certificate(pd, "FK7804", unit, rsent.date(), ctx, cert["staff"])
                new["signed"] = rsent.replace(microsecond=0).isoformat()
                pd.relations.append({"from": new["id"], "to": cert["id"], "kind": "COMPLEMENTS"})
                question["handled_at"] = (rsent + timedelta(minutes=5)).isoformat()
            else:
                pd.questions.append({"id": f"{self.id_prefix}-q-{self.qcounter:07d}", "certificate": cert["id"],
                                     "subject": subject, "sender": "CARE", "heading": heading,
                                     "text": "Ring gärna på telefon 010-100 10 10 vardagar 8–10.",
                                     "sent": rsent.isoformat(), "in_reply_to": qid})
                question["handled_at"] = rsent.isoformat()
        elif roll < 0.45 and sent.date() + timedelta(days=8) <= self.today:
            self.qcounter += 1
            heading, text = QUESTION_TEXTS["PAMINN"]
            pd.questions.append({"id": f"{self.id_prefix}-q-{self.qcounter:07d}", "certificate": cert["id"],
                                 "subject": "PAMINN", "sender": "FK", "heading": heading, "text": text,
                                 "sent": (sent + timedelta(days=7)).isoformat(), "reminder_of": qid})

    def _diag_id(self, code: str) -> str:
        q = self.registry[code].first_of_kind("diagnoses")
        return q.id if q else ""

    def patient(self, *, person: dict | None = None, home_unit: str | None = None, ongoing: bool | None = None,
                history_years: int = 3, extra_types: bool = True) -> PatientData:
        """One patient with a plausible three-year history."""
        rng = self.rng
        pd = PatientData(person=person or self.person())
        pnr = pd.person["personnummer"]
        born = date(int(pnr[:4]), int(pnr[4:6]), int(pnr[6:8]) % 60 or 1)
        age = (self.today - born).days // 365
        unit = home_unit or rng.choice([u[0] for u in UNITS])
        ongoing = rng.random() < 0.45 if ongoing is None else ongoing
        adult = age >= 18
        if adult and not pd.person["deceased"]:
            # earlier, finished chains
            for _ in range(rng.randint(0, 2)):
                start = self.today - timedelta(days=rng.randint(120, history_years * 365))
                self.sick_leave_chain(pd, unit, start, ongoing=False, max_certs=4)
            if ongoing:
                start = self.today - timedelta(days=rng.choice([5, 12, 25, 40, 70, 100, 150, 200, 300, 400, 500]))
                self.sick_leave_chain(pd, unit, start, ongoing=True, max_certs=6)
            # drop anything that would start in the future (keep signed ≤ today)
        if extra_types:
            self.extra_certificates(pd, unit, age, born)
        # questions from FK on recent FK7804s
        recent = [c for c in pd.certificates if c["type"] == "FK7804"
                  and datetime.fromisoformat(c["signed"]).date() >= self.today - timedelta(days=80)]
        for cert in recent:
            if rng.random() < 0.18:
                self.questions_for(pd, cert, cert["unit"])
        # replaced and revoked
        fk = [c for c in pd.certificates if c["type"] == "FK7804"]
        if fk and rng.random() < 0.08:
            old = rng.choice(fk)
            signed = datetime.fromisoformat(old["signed"]) + timedelta(hours=rng.randint(2, 48))
            if signed.date() <= self.today:
                ctx = Context(signed=signed.date(), periods=old["content"][self._periods_id("FK7804")],
                              diagnoses=old["content"][self._diag_id("FK7804")])
                new = self.certificate(pd, "FK7804", old["unit"], signed.date(), ctx, old["staff"])
                new["signed"] = signed.replace(microsecond=0).isoformat()
                pd.relations.append({"from": new["id"], "to": old["id"], "kind": "REPLACES"})
        if pd.certificates and rng.random() < 0.05:
            victim = rng.choice(pd.certificates)
            at = datetime.fromisoformat(victim["signed"]) + timedelta(days=1)
            if at.date() <= self.today and not any(victim["id"] in (r["to"], r["from"]) for r in pd.relations):
                pd.revocations.append({"certificate": victim["id"], "at": at.isoformat(),
                                       "reason": rng.choice(REVOKE_REASONS)})
        return pd

    def extra_certificates(self, pd: PatientData, unit: str, age: int, born: date) -> None:
        rng = self.rng
        female = int(pd.person["personnummer"][10]) % 2 == 0
        when = lambda: self.today - timedelta(days=rng.randint(1, 3 * 365))  # noqa: E731
        if pd.person["deceased"]:
            day = self.today - timedelta(days=rng.randint(5, 300))
            for code in ("DB", "DOI"):
                if code in self.registry:
                    self.certificate(pd, code, unit, day)
            return
        choices: list[tuple[str, float]] = [("TSTRK1007", 0.05), ("TSTRK1031", 0.03), ("FK7809", 0.02),
                                            ("FK3226", 0.03), ("AG1-14", 0.12), ("FK7263", 0.05), ("FK7800", 0.04)]
        if 19 <= age <= 29:
            choices += [("FK7801", 0.05), ("FK7802", 0.03)]
        if female and 20 <= age <= 45:
            choices.append(("FK7210", 0.08))
        for code, p in choices:
            if code in self.registry and rng.random() < p and age >= 16:
                day = when() if code != "FK7263" else self.today - timedelta(days=rng.randint(900, 3 * 365))
                ctx = Context(signed=day, diagnoses=[self.diagnosis()], share_diagnosis=rng.random() < 0.5)
                if code == "FK7263":
                    ctx.periods = [{"start": day.isoformat(), "end": (day + timedelta(days=29)).isoformat(),
                                    "degree": 100}]
                self.certificate(pd, code, unit, day, ctx)
        if age < 16 and "FK7472" in self.registry and rng.random() < 0.8:  # a sick child's certificate
            day = self.today - timedelta(days=rng.randint(1, 300))
            ctx = Context(signed=day, periods=[{"start": day.isoformat(), "end": (day + timedelta(days=4)).isoformat(),
                                                "degree": 100}])
            self.certificate(pd, "FK7472", unit, day, ctx)


# --- the named demo identities (the test broker lists them) -------------------------------------

@dataclass(frozen=True)
class DemoCitizen:
    key: str
    given: str
    family: str
    born: date
    serial: int
    about: str
    protected: bool = False
    deceased: bool = False
    validation_person: bool = False

    @property
    def personnummer(self) -> str:
        return make_pnr(self.born, self.serial)


def demo_citizens(today: date) -> list[DemoCitizen]:
    return [
        DemoCitizen("ordinary", "Tolva", "Demosson", date(1985, 3, 14), 982,
                    N_("Vanlig invånare med många intyg av olika typer, några skickade och ett ersatt.")),
        DemoCitizen("protected", "Skyddad", "Identitetsson", date(1979, 9, 2), 987,
                    N_("Skyddade personuppgifter (sekretessmarkering)."), protected=True),
        DemoCitizen("child", "Lilla", "Demosson", date(today.year - 12, 5, 20), 984,
                    N_("Under 16 år: får inte logga in.")),
        DemoCitizen("validation", "Validera", "Produktionsson", date(1990, 1, 1), 998,
                    N_("Valideringsperson: används för att kontrollera produktionen."), validation_person=True),
        DemoCitizen("deceased", "Avliden", "Demosson", date(1941, 11, 30), 981, N_("Avliden."), deceased=True),
        DemoCitizen("new", "Nyanländ", "Utanintyg", date(2001, 7, 7), 986, N_("Invånare utan intyg.")),
    ]


def small(*, today: date, seed: int, registry: ct.Registry, patients: int = 160) -> dict:
    """The small demo data set, as one intake document."""
    gen = Generator(registry, today, seed)
    doc: dict[str, list] = {
        "providers": [{"hsa_id": hsa(pid), "name": name} for pid, name in PROVIDERS],
        "units": _units_doc(),
        "staff": [],
        "commissions": [],
        "persons": [],
        "certificates": [],
        "relations": [],
        "revocations": [],
        "care_sends": [],
        "questions": [],
    }
    _staff_doc(doc, today)
    all_patients = _demo_citizens_data(gen, doc, today)
    # ordinary patients, spread over the units, many with ongoing sick leave
    for i in range(patients):
        unit = UNITS[i % len(UNITS)][0]
        flags = {}
        if i % 37 == 5:
            flags["protected"] = True
        if i % 53 == 7:
            flags["deceased"] = True
        born = None
        if i % 41 == 3:
            born = today - timedelta(days=gen.rng.randint(2 * 365, 15 * 365))  # a child
        person = gen.person(born=born, **flags)
        all_patients.append(gen.patient(person=person, home_unit=unit, ongoing=(i % 5 != 0)))
    _ensure_coverage(gen, all_patients)
    _lakarutlatanden_on_ve10(gen, all_patients, seed)
    for pd in all_patients:
        doc["persons"].append(pd.person)
        for cert in pd.certificates:
            cert["unit"] = hsa(cert["unit"]) if not cert["unit"].startswith(PREFIX) else cert["unit"]
        doc["certificates"] += pd.certificates
        doc["relations"] += pd.relations
        doc["revocations"] += pd.revocations
        doc["questions"] += pd.questions
    return doc


def _units_doc() -> list[dict]:
    units = []
    for uid, name, pid, parent in UNITS:
        addr, postal, city, phone = UNIT_ADDRESS[uid]
        units.append({"hsa_id": hsa(uid), "name": name, "provider": hsa(pid),
                      "parent": hsa(parent) if parent else None, "address": addr, "postal_code": postal,
                      "city": city, "phone": phone, "county": UNIT_COUNTY[uid]})
    return units


def _staff_doc(doc: dict[str, list], today: date) -> None:
    """The demo staff and their commissions (valid, expired, and for another purpose than care)."""
    for s in STAFF:
        doc["staff"].append({"hsa_id": s.hsa_id, "given_name": s.given, "family_name": s.family, "title": s.title,
                             "professions": list(s.professions),
                             "position_codes": [{"code": c, "group_prescription_code": g} for c, g in s.position_codes],
                             "system_roles": [f"INTYG;Rehab-{hsa(u)}" for u in s.rehab_units]
                             + [f"INTYG;Statistik-{hsa(p)}" for p in s.statistics_providers],
                             "gender": s.gender, "birth_year": s.birth_year})
        start = (today - timedelta(days=5 * 365)).isoformat()
        for u in s.units:
            doc["commissions"].append({"staff": s.hsa_id, "unit": hsa(u), "purpose": CARE, "valid_from": start,
                                       "valid_to": (today + timedelta(days=2 * 365)).isoformat()})
        for u in s.expired_units:
            doc["commissions"].append({"staff": s.hsa_id, "unit": hsa(u), "purpose": CARE, "valid_from": start,
                                       "valid_to": (today - timedelta(days=30)).isoformat()})
        for u, purpose in s.other_commissions:
            doc["commissions"].append({"staff": s.hsa_id, "unit": hsa(u), "purpose": purpose, "valid_from": start,
                                       "valid_to": None})


def _demo_citizens_data(gen: Generator, doc: dict[str, list], today: date) -> list[PatientData]:
    """The named demo citizens (the test broker lists them) with their certificates."""
    all_patients: list[PatientData] = []
    for c in demo_citizens(today):
        person = {"personnummer": c.personnummer, "given_name": c.given, "family_name": c.family,
                  "protected": c.protected, "deceased": c.deceased, "validation_person": c.validation_person}
        gen.used_pnr.add(c.personnummer)
        if c.key == "new":
            all_patients.append(PatientData(person=person))
        elif c.key == "ordinary":
            all_patients.append(_ordinary_citizen(gen, doc, person))
        else:
            home = "VE30" if c.key == "protected" else "VE10"
            all_patients.append(gen.patient(person=person, home_unit=home,
                                            ongoing=c.key in {"protected", "validation"}))
    return all_patients


def _ordinary_citizen(gen: Generator, doc: dict[str, list], person: dict) -> PatientData:
    """Tolva Demosson: an ongoing sick leave and one certificate of most other types."""
    today = gen.today
    pd = gen.patient(person=person, home_unit="VE10", ongoing=True)
    for code in ("TSTRK1007", "TSTRK1031", "AG1-14", "FK7809", "FK3226", "FK7210", "FK7800", "FK7263"):
        if code not in gen.registry:
            continue
        day = today - timedelta(days=gen.rng.randint(20, 700))
        ctx = Context(signed=day, diagnoses=[gen.diagnosis()])
        if code == "FK7263":
            day = today - timedelta(days=1000)
            ctx = Context(signed=day, diagnoses=[gen.diagnosis()], periods=[
                {"start": day.isoformat(), "end": (day + timedelta(days=20)).isoformat(), "degree": 100}])
        cert = gen.certificate(pd, code, "VE10", day, ctx)
        if code == "TSTRK1031":  # the doctor sent it to Transportstyrelsen: "sent by care"
            at = datetime.fromisoformat(cert["signed"]) + timedelta(minutes=20)
            doc["care_sends"].append({"certificate": cert["id"], "recipient": "TS", "at": at.isoformat()})
    return pd


def _ensure_coverage(gen: Generator, all_patients: list[PatientData]) -> None:
    """Whatever the random draws gave, the small set has every type and a complemented certificate."""
    today = gen.today
    have = {c["type"] for pd in all_patients for c in pd.certificates}
    adults = [pd for pd in all_patients if not pd.person["deceased"] and not pd.person["protected"]
              and pd.certificates  # not the demo citizen who has none on purpose
              and 19 <= (today.year - int(pd.person["personnummer"][:4])) <= 29]
    for code in gen.registry.codes():
        if code in have or code in {"DB", "DOI", "FK7472"}:
            continue
        pd = adults[0] if adults else all_patients[0]
        day = today - timedelta(days=gen.rng.randint(30, 600))
        gen.certificate(pd, code, "VE10", day, Context(signed=day, diagnoses=[gen.diagnosis()]))
    if not any(r["kind"] == "COMPLEMENTS" for pd in all_patients for r in pd.relations):
        for pd in all_patients:
            recent = [c for c in pd.certificates if c["type"] == "FK7804" and today - timedelta(days=60)
                      <= datetime.fromisoformat(c["signed"]).date() <= today - timedelta(days=10)]
            if recent and not pd.person["validation_person"]:
                cert = recent[-1]
                gen.qcounter += 1
                qid = f"{gen.id_prefix}-q-{gen.qcounter:07d}"
                sent = datetime.fromisoformat(cert["signed"]) + timedelta(days=2)
                heading, text = QUESTION_TEXTS["KOMPLT"]
                pd.questions.append({"id": qid, "certificate": cert["id"], "subject": "KOMPLT", "sender": "FK",
                                     "heading": heading, "text": text, "sent": sent.isoformat(),
                                     "handled_at": (sent + timedelta(days=3, minutes=5)).isoformat()})
                ctx = Context(signed=(sent + timedelta(days=3)).date(),
                              periods=cert["content"][gen._periods_id("FK7804")],
                              diagnoses=cert["content"][gen._diag_id("FK7804")])
                new = gen.certificate(pd, "FK7804", cert["unit"], ctx.signed, ctx, cert["staff"])
                new["signed"] = (sent + timedelta(days=3)).isoformat()
                pd.relations.append({"from": new["id"], "to": cert["id"], "kind": "COMPLEMENTS"})
                break


def _lakarutlatanden_on_ve10(gen: Generator, all_patients: list[PatientData], seed: int) -> None:
    """Enough läkarutlåtanden (FK7800/FK7801/FK7802) on Vårdcentralen Norrby for the Rehabstöd list to
    be worth filtering: several doctors, types, diagnoses and signing dates, unanswered FK questions,
    a protected patient and a valideringsperson among them. Drawn from a random generator of their
    own, so everything generated before stays exactly as it was."""
    saved, gen.rng = gen.rng, random.Random(seed * 31 + 7800)
    rng, today = gen.rng, gen.today
    try:
        pool = [pd for pd in all_patients if pd.certificates and not pd.person["deceased"]
                and any(c["unit"] in ("VE10", "VE11") for c in pd.certificates)
                and pnr_rules.age(pd.person["personnummer"], today) >= 19]
        plain = [pd for pd in pool if not pd.person["protected"] and not pd.person["validation_person"]]
        special = [pd for pd in pool if pd.person["protected"] or pd.person["validation_person"]]
        chosen = rng.sample(plain, k=min(14, len(plain))) + special
        doctors = DOCTORS_BY_UNIT["VE10"]
        for i, pd in enumerate(chosen):
            code = ("FK7800", "FK7801", "FK7802")[i % 3] if i < 9 else rng.choice(["FK7800", "FK7801"])
            day = today - timedelta(days=rng.randint(5, 60) if i % 4 == 1 else rng.randint(2, 700))
            doctor = doctors[i % len(doctors)]
            cert = gen.certificate(pd, code, "VE10", day, Context(signed=day, diagnoses=[gen.diagnosis()]), doctor)
            if i % 4 == 1:  # FK asks about it, unanswered
                subject = ("KOMPLT", "OVRIGT", "KONTKT")[i % 3]
                heading, text = QUESTION_TEXTS[subject]
                gen.qcounter += 1
                sent = datetime.combine(min(day + timedelta(days=3), today), time(9))
                pd.questions.append({"id": f"{gen.id_prefix}-q-{gen.qcounter:07d}", "certificate": cert["id"],
                                     "subject": subject, "sender": "FK", "heading": heading, "text": text,
                                     "sent": sent.isoformat(),
                                     "last_answer_date": (sent.date() + timedelta(days=14)).isoformat()})
    finally:
        gen.rng = saved


def patients(*, today: date, seed: int, registry: ct.Registry, used_pnr: Iterable[str] = frozenset(),
             id_prefix: str = "demoL") -> Iterator[PatientData]:
    """An endless stream of generated patients (for the large set); units are full HSA-ids."""
    gen = Generator(registry, today, seed, id_prefix=id_prefix)
    gen.used_pnr |= set(used_pnr)
    i = 0
    while True:
        unit = UNITS[i % len(UNITS)][0]
        i += 1
        pd = gen.patient(home_unit=unit)
        for cert in pd.certificates:
            cert["unit"] = hsa(cert["unit"])
        yield pd
