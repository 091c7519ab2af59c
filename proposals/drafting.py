"""Drafters: the prompt, the OpenAI drafter (official client), and the offline template drafter."""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from core.errors import PermanentTaskError

logger = logging.getLogger(__name__)

GENERATORS = ("openai", "template")
# Bump when the prompt (RULES, build_messages) or the template drafter changes: analytics compares versions.
PROMPT_VERSION = "prompt-1"
TEMPLATE_VERSION = "template-1"
NOT_CONFIGURED_MESSAGE = "OpenAI is not configured: set OPENAI_API_KEY or PROPOSAL_GENERATOR=template"


class NotConfigured(PermanentTaskError):
    """OpenAI was chosen but has no API key."""


class DraftRejected(PermanentTaskError):
    """OpenAI refused the request (a 4xx other than 429): retrying the same request cannot help."""


class DraftUnavailable(Exception):
    """A transient OpenAI failure (429, 5xx, timeout, connection): the queue retries with backoff."""


class CostCapReached(PermanentTaskError):
    """Today's estimated OpenAI spend reached OPENAI_DAILY_COST_CAP_USD."""


@dataclass
class DraftRequest:
    job: object  # jobs.Job
    profile: object  # proposals.FreelancerProfile
    word_limit: int
    screening_questions: list[str] = field(default_factory=list)
    attachment_titles: list[str] = field(default_factory=list)
    feedback: str = ""
    previous_text: str = ""


@dataclass
class Draft:
    text: str
    source: str
    model: str = ""
    prompt_version: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated_cost: Decimal = Decimal("0.000000")
    trimmed_from_words: int | None = None  # the word count before fit_word_limit shortened the text


# --- instructions hidden in job posts ----------------------------------------
_CODE_WORD_PATTERNS = [
    re.compile(
        r"(?:start|begin)\s+(?:your\s+)?(?:proposal|application|cover\s+letter|reply|response|message|bid)\s+"
        r"with\s+(?:the\s+(?:word|phrase|code\s*word)\s+)?[\"'\u201c\u2018]?([A-Za-z0-9][A-Za-z0-9\-]*)",
        re.IGNORECASE,
    ),
    re.compile(
        r"(?:include|mention|write|put|use|add)\s+(?:the\s+)?(?:code\s*word|keyword|secret\s+word|word)\s+"
        r"[\"'\u201c\u2018]?([A-Za-z0-9][A-Za-z0-9\-]*)",
        re.IGNORECASE,
    ),
    re.compile(r"code\s*word\s*(?:is|:|=)\s*[\"'\u201c\u2018]?([A-Za-z0-9][A-Za-z0-9\-]*)", re.IGNORECASE),
]
_ANSWER_FIRST = re.compile(r"answer[^.?!\n]*\b(?:first|before|at the (?:top|start|beginning))\b", re.IGNORECASE)
_QUESTION = re.compile(r"([A-Z][^.?!\n]{5,300}\?)")


def find_code_word(text: str) -> str:
    for pattern in _CODE_WORD_PATTERNS:
        match = pattern.search(text or "")
        if match:
            return match.group(1)
    return ""


def find_question_to_answer_first(text: str) -> str:
    """The question a post asks to be answered first, when it says so (the first question after that ask)."""
    ask = _ANSWER_FIRST.search(text or "")
    if not ask:
        return ""
    after = _QUESTION.search(text, ask.start())
    if after:
        return after.group(1).strip()
    before = _QUESTION.findall(text[: ask.start()])
    return before[-1].strip() if before else ""


def detected_instructions(text: str) -> list[str]:
    found = []
    code_word = find_code_word(text)
    if code_word:
        found.append(f'The post asks for the code word "{code_word}": put it in the first line.')
    question = find_question_to_answer_first(text)
    if question:
        found.append(f'The post asks to answer this first: "{question}"')
    return found


# --- the prompt -------------------------------------------------------------
RULES = [
    "Never invent experience, clients, numbers, tools or claims: use only what the freelancer profile states. "
    "If the job needs something the profile does not show, say honestly how you would approach it.",
    "Follow every instruction in the job post exactly: if it asks for a code word, a phrase or a specific "
    "opening, use it; if it asks a question to be answered first, answer it in the first lines.",
    "Answer every screening question, each under its question, after the letter.",
    "Stay within {word_limit} words in total.",
    "Write to this client about this job: refer to specifics of the post, no generic filler, no clichés "
    "such as 'I am the perfect fit'.",
    "Plain text only: no Markdown headings, no placeholders in brackets, no subject line.",
    "Sign with the freelancer's name.",
]


def _money(value) -> str:
    return f"${Decimal(str(value)):,.2f}" if value is not None else "unknown"


def job_block(job) -> str:
    if job.job_type == "hourly":
        budget = f"hourly, {_money(job.hourly_min)} to {_money(job.hourly_max)} per hour"
    elif job.job_type == "fixed":
        budget = f"fixed price, {_money(job.budget)}"
    else:
        budget = "not stated"
    lines = [
        f"Title: {job.title}",
        f"URL: {job.url}",
        f"Budget: {budget}",
        f"Skills: {', '.join(job.skills or []) or 'not listed'}",
        f"Experience level: {job.experience_level or 'not stated'}",
        f"Duration: {job.duration or 'not stated'}; workload: {job.workload or 'not stated'}",
        "Description:",
        job.description or "(no description)",
    ]
    return "\n".join(lines)


def client_block(job) -> str:
    verified = {True: "yes", False: "no", None: "unknown"}[job.client_payment_verified]
    rating = f"{job.client_rating} from {job.client_reviews or 0} reviews" if job.client_rating is not None else "none"
    return "\n".join(
        [
            f"Country: {job.client_country or 'unknown'}",
            f"Payment verified: {verified}",
            f"Total spent: {_money(job.client_total_spent)}",
            f"Hires: {job.client_hires if job.client_hires is not None else 'unknown'}",
            f"Rating: {rating}",
        ]
    )


def profile_block(profile) -> str:
    achievements = "\n".join(f"- {item}" for item in profile.achievements or []) or "- (none listed)"
    lines = [
        f"Name: {profile.name}",
        f"Title: {profile.title or 'not stated'}",
        f"Skills: {', '.join(profile.skills or []) or 'not listed'}",
        f"Hourly rate: {_money(profile.hourly_rate)}",
        f"Bio: {profile.bio or '(none)'}",
        "Achievements:",
        achievements,
        f"Tone: {profile.tone}",
    ]
    if profile.writing_rules:
        lines += ["The freelancer's own writing rules:", profile.writing_rules]
    if profile.sample_letter:
        lines += ["A sample letter in the freelancer's voice (copy the voice, not the facts):", profile.sample_letter]
    return "\n".join(lines)


def build_messages(request: DraftRequest) -> list[dict]:
    rules = "\n".join(f"{n}. {rule.format(word_limit=request.word_limit)}" for n, rule in enumerate(RULES, 1))
    system = (
        "You write Upwork proposals (cover letters) for one freelancer. They are read by the freelancer "
        "before anything is sent.\nRules:\n" + rules
    )
    sections = [
        "# The job\n" + job_block(request.job),
        "# The client\n" + client_block(request.job),
        "# The freelancer profile (the only facts you may claim)\n" + profile_block(request.profile),
    ]
    found = detected_instructions(request.job.description)
    if found:
        sections.append("# Instructions found in the job post (follow them)\n" + "\n".join(f"- {i}" for i in found))
    if request.screening_questions:
        questions = "\n".join(f"{n}. {q}" for n, q in enumerate(request.screening_questions, 1))
        sections.append("# Screening questions (answer each)\n" + questions)
    if request.attachment_titles:
        sections.append("# Portfolio pieces that will be attached\n" + "\n".join(request.attachment_titles))
    if request.feedback:
        sections.append(
            "# Reviewer feedback on the previous version (apply it)\n"
            + request.feedback
            + ("\n\n# Previous version\n" + request.previous_text if request.previous_text else "")
        )
    sections.append(f"Write the proposal now, at most {request.word_limit} words.")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(sections)}]


# --- drafters ----------------------------------------------------------------
def estimate_cost(prompt_tokens: int, completion_tokens: int) -> Decimal:
    cost = (
        Decimal(prompt_tokens) / 1000 * settings.OPENAI_PRICE_INPUT_PER_1K
        + Decimal(completion_tokens) / 1000 * settings.OPENAI_PRICE_OUTPUT_PER_1K
    )
    return cost.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def estimate_request_cost(request: DraftRequest) -> Decimal:
    """A generous guess at one call's cost before it is made: ~3 characters a prompt token, 2 tokens a word out."""
    prompt_chars = sum(len(message["content"]) for message in build_messages(request))
    return estimate_cost(prompt_chars // 3 + 1, request.word_limit * 2)


def _openai_message(error) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return getattr(error, "message", "") or str(error)


def draft_with_openai(request: DraftRequest) -> Draft:
    """One chat completion. Transient failures raise DraftUnavailable (the queue retries); 4xx DraftRejected."""
    import openai

    api_key = settings.OPENAI_API_KEY
    if not api_key:
        raise NotConfigured(NOT_CONFIGURED_MESSAGE)
    model = settings.OPENAI_MODEL
    client = openai.OpenAI(
        api_key=api_key,
        base_url=settings.OPENAI_BASE_URL or None,
        timeout=settings.OPENAI_TIMEOUT,
        max_retries=0,  # retries are the queue's, with its backoff
    )
    try:
        completion = client.chat.completions.create(model=model, messages=build_messages(request))
    except openai.APIStatusError as error:
        message = _openai_message(error)
        if error.status_code == 429 or error.status_code >= 500:
            raise DraftUnavailable(f"OpenAI returned {error.status_code}: {message}") from error
        raise DraftRejected(f"OpenAI rejected the request ({error.status_code}): {message}") from error
    except openai.APIConnectionError as error:  # includes APITimeoutError
        raise DraftUnavailable(f"OpenAI could not be reached: {_openai_message(error)}") from error
    finally:
        client.close()
    choice = completion.choices[0] if completion.choices else None
    text = (choice.message.content or "").strip() if choice else ""
    if not text:
        refusal = getattr(choice.message, "refusal", None) if choice else None
        raise DraftRejected(f"OpenAI returned no text{f': {refusal}' if refusal else ''}.")
    usage = completion.usage
    prompt_tokens = usage.prompt_tokens if usage else 0
    completion_tokens = usage.completion_tokens if usage else 0
    # The model is asked to stay within the limit but does not always: enforce it here.
    text, trimmed_from_words = fit_word_limit(text, request.word_limit)
    if trimmed_from_words is not None:
        logger.info(
            "OpenAI draft for job %s had %s words; trimmed to %s (limit %s)",
            getattr(request.job, "id", None),
            trimmed_from_words,
            len(text.split()),
            request.word_limit,
        )
    return Draft(
        text=text,
        source="openai",
        model=completion.model or model,
        prompt_version=PROMPT_VERSION,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        estimated_cost=estimate_cost(prompt_tokens, completion_tokens),
        trimmed_from_words=trimmed_from_words,
    )


def _sentences(text: str, limit: int) -> str:
    parts = re.split(r"(?<=[.!?])\s+", (text or "").strip())
    return " ".join(part for part in parts[:limit] if part)


def _truncate_words(text: str, limit: int) -> str:
    kept, count = [], 0
    for line in text.split("\n"):
        line_words = line.split()
        if count + len(line_words) > limit:
            head = line_words[: max(limit - count, 0)]
            if head or not any(k.strip() for k in kept):
                kept.append(" ".join(head).rstrip(",;:") + "…")
            else:  # the limit falls between lines: mark the end of the last kept line, not a new word
                while not kept[-1].strip():
                    kept.pop()
                kept[-1] = kept[-1].rstrip(",;:") + "…"
            break
        kept.append(line)
        count += len(line_words)
    return "\n".join(kept).strip()


# A sentence ends at . ! ? or … (with any closing quotes or brackets) followed by a space or the end.
_SENTENCE_END = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*(?=\s|$)")


def fit_word_limit(text: str, limit: int) -> tuple[str, int | None]:
    """The text within `limit` words, and its original word count when it had to be trimmed (else None).

    Cut after the last sentence that still fits, keeping the line breaks before it; when not even
    the first sentence fits, cut at the word limit (marked with "…").
    """
    words = len(text.split())
    if words <= limit:
        return text, None
    fitting = ""
    for match in _SENTENCE_END.finditer(text):
        head = text[: match.end()]
        if len(head.split()) > limit:
            break
        fitting = head
    return (fitting.rstrip() if fitting else _truncate_words(text, limit)), words


# --- the template drafter's voice: varied per job, following the profile's writing rules -------------
_GREETINGS = ["Hi,", "Hello,", "Hi there,", "Good day,"]
_FIT = [
    'I read your post "{title}".',
    'Your post "{title}" caught my eye.',
    '"{title}" is the kind of work I do.',
    'I would like to help with "{title}".',
]
_SKILLS = [
    "I work with {skills}, which this job needs.",
    "The job needs {skills}, which I work with.",
    "You need {skills}: I work with {them}.",
]
_CLOSINGS = [
    "I would be glad to discuss the details and a first step.",
    "I would be glad to talk through the details and agree on a first step.",
    "If it helps, we can start with a short call to agree on the first step.",
]
_SIGN_OFFS = ["Best regards,", "Kind regards,", "Thanks,", "All the best,"]
_QUESTIONS = [
    "Is there an existing codebase for this, or would I start from scratch?",
    "What would you like to see working at the end of the first week?",
    "Which part of the {skill} work matters most to you first?",
    "Is there a date the first release has to be ready by?",
]
# How the body is laid out: which parts go in which paragraph, in which order.
_LAYOUTS = [
    [["fit", "who", "extra", "attached", "rate", "question", "closing"]],
    [["who", "fit"], ["extra", "attached", "rate"], ["question", "closing"]],
    [["fit", "extra"], ["who", "attached", "question"], ["rate", "closing"]],
]
_WORD_LIMIT_RULE = re.compile(r"(?:under|at most|max(?:imum)?|no more than|fewer than|less than)\s+(\d+)\s+words")


@dataclass
class WritingRules:
    """The profile's own rules the template drafter knows how to follow (OpenAI gets the rules verbatim)."""

    ask_question: bool = False
    mention_nda: bool = False
    no_greeting: bool = False
    first_name_only: bool = False
    always_rate: bool = False
    word_limit: int | None = None

    @classmethod
    def parse(cls, text: str) -> WritingRules:
        rules = cls()
        for raw in re.split(r"[\n;]+|(?<=[.!])\s+", text or ""):
            rule = raw.strip().lower()
            if not rule:
                continue
            if (
                "question" in rule
                and re.search(r"\bask", rule)
                and not re.search(r"\b(?:no|never|don't|do not)\b", rule)
            ):
                rules.ask_question = True
            if re.search(r"\bnda\b", rule):
                rules.mention_nda = True
            if re.search(r"\b(?:no|skip|without)\b.*\b(?:greeting|salutation)", rule):
                rules.no_greeting = True
            if "first name" in rule:
                rules.first_name_only = True
            if re.search(r"\b(?:mention|state|give|include)\b.*\brate\b", rule):
                rules.always_rate = True
            limit = _WORD_LIMIT_RULE.search(rule)
            if limit:
                rules.word_limit = int(limit.group(1))
        return rules


def _and_list(items: list[str]) -> str:
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]


def _job_seed(job) -> str:
    """The same job always reads the same; two jobs read differently."""
    return f"{getattr(job, 'pk', None) or ''}:{job.upwork_id or job.title}"


def draft_with_template(request: DraftRequest) -> Draft:
    """A deterministic, offline draft from the profile and the job: the same inputs give the same text.

    Its greeting, phrasing and paragraph layout are chosen per job (seeded by the job), so two jobs do not
    get the same paragraph; the profile's writing rules it understands are followed (WritingRules).
    """
    job, profile = request.job, request.profile
    pick = random.Random(_job_seed(job))  # variety, not security: the same job always gets the same choices
    rules = WritingRules.parse(profile.writing_rules)
    word_limit = min(request.word_limit, rules.word_limit or request.word_limit)
    description = job.description or ""
    job_skills = list(job.skills or [])
    lowered = f"{job.title}\n{description}\n{' '.join(job_skills)}".lower()
    shared = [s for s in profile.skills or [] if str(s).lower() in lowered]

    opening = []
    code_word = find_code_word(description)
    if code_word:
        opening.append(code_word)
    greeting = pick.choice(_GREETINGS)
    if not rules.no_greeting:
        opening.append(greeting)
    question = find_question_to_answer_first(description)
    if question:
        opening.append(f"You asked: {question} My answer: [answer before sending].")

    parts: dict[str, str] = {}
    fit = pick.choice(_FIT).format(title=job.title)
    skills_line = pick.choice(_SKILLS)
    if shared:
        fit += " " + skills_line.format(skills=_and_list(shared), them="both" if len(shared) == 2 else "them")
    parts["fit"] = fit
    if profile.title:
        parts["who"] = f"I am a {profile.title}."
    optional = []
    bio = _sentences(profile.bio, 2)
    if bio:
        optional.append(bio)
    relevant = [a for a in profile.achievements or [] if any(str(s).lower() in a.lower() for s in shared)]
    picked = (relevant or list(profile.achievements or []))[:2]
    if picked:
        optional.append("For example: " + "; ".join(a.rstrip(".") for a in picked) + ".")
    if pick.random() < 0.5:
        optional.reverse()
    if request.attachment_titles:
        parts["attached"] = "Attached: " + ", ".join(request.attachment_titles) + ", similar work I have done."
    rate = []
    if profile.hourly_rate is not None and (job.job_type == "hourly" or rules.always_rate):
        rate.append(f"My rate is {_money(profile.hourly_rate)} per hour.")
    if rules.mention_nda:
        rate.append("I am happy to sign an NDA.")
    if rate:
        parts["rate"] = " ".join(rate)
    if rules.ask_question:
        skill = (job_skills or shared or ["this"])[0]
        parts["question"] = pick.choice(_QUESTIONS).format(skill=skill)
    parts["closing"] = pick.choice(_CLOSINGS)
    layout = pick.choice(_LAYOUTS)
    name = profile.name.split()[0] if rules.first_name_only and profile.name else profile.name
    closing = [pick.choice(_SIGN_OFFS), name]
    answers = []
    if request.screening_questions:
        answers.append("Screening answers:")
        for q in request.screening_questions:
            answers += [f"Q: {q}", "A: [answer before sending]"]

    def assemble(extra: list[str], body_words: int | None = None) -> str:
        paragraphs = []
        for names in layout:
            sentences = []
            for part in names:
                if part == "extra":
                    sentences += extra
                elif parts.get(part):
                    sentences.append(parts[part])
            if sentences:
                paragraphs.append(" ".join(sentences))
        body = "\n\n".join(paragraphs)
        if body_words is not None and len(body.split()) > body_words:
            body = _truncate_words(body, body_words)
        blocks = ["\n".join(opening), body, "\n".join(closing)]
        if answers:
            blocks.append("\n".join(answers))
        return "\n\n".join(block for block in blocks if block)

    # Drop the optional parts, last first, until the letter fits; cut words only as a last resort.
    for keep in range(len(optional), -1, -1):
        text = assemble(optional[:keep])
        if len(text.split()) <= word_limit:
            break
    if len(text.split()) > word_limit:
        # Cut the body, not the greeting, the signature or the answers' questions.
        fixed = len(assemble([], body_words=0).split())
        text = assemble([], body_words=max(word_limit - fixed, 1))
    if len(text.split()) > word_limit:
        text = _truncate_words(text, word_limit)
    return Draft(text=text, source="template", model="", prompt_version=TEMPLATE_VERSION)


def draft(request: DraftRequest, *, generator: str) -> Draft:
    if generator == "template":
        return draft_with_template(request)
    if generator == "openai":
        return draft_with_openai(request)
    raise PermanentTaskError(f"Unknown PROPOSAL_GENERATOR '{generator}'. Use one of: {', '.join(GENERATORS)}.")
