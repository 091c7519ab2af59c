"""The sandbox marketplace's job postings: a fixed, deterministic set so tests can name known jobs."""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

SKILL_POOL = [
    "Python",
    "Django",
    "PostgreSQL",
    "Salesforce",
    "Apex",
    "React",
    "Web Scraping",
    "Playwright",
    "Data Entry",
    "WordPress",
    "REST API",
    "Redis",
]
COUNTRIES = ["United States", "Germany", "Canada", "India", "Australia", "United Kingdom", "Nigeria"]
PROPOSAL_TIERS = ["Less than 5", "5 to 10", "10 to 15", "15 to 20", "20 to 50", "50+"]
EXPERIENCE = ["Entry level", "Intermediate", "Expert"]
DURATIONS = ["Less than 1 month", "1 to 3 months", "3 to 6 months", "More than 6 months"]
WORKLOADS = ["Less than 30 hrs/week", "More than 30 hrs/week"]
CATEGORIES = ["Web Development", "CRM", "Data Science", "Admin Support"]
TOPICS = [
    ("Django REST API for a logistics dashboard", ["Python", "Django", "PostgreSQL", "REST API"], "Web Development"),
    ("Salesforce Apex trigger cleanup", ["Salesforce", "Apex"], "CRM"),
    ("Scrape product catalog with Playwright", ["Python", "Web Scraping", "Playwright"], "Data Science"),
    ("React front end for a booking app", ["React", "REST API"], "Web Development"),
    ("WordPress theme fixes", ["WordPress"], "Web Development"),
    ("Copy data from PDFs into a spreadsheet", ["Data Entry"], "Admin Support"),
    ("Python worker with Redis queues", ["Python", "Redis", "PostgreSQL"], "Web Development"),
    ("Salesforce reports and dashboards", ["Salesforce"], "CRM"),
]


@dataclass
class SandboxJob:
    """One posting with every field Upwork shows on a job page."""

    ciphertext: str
    numeric_id: str
    title: str
    description: str
    job_type: str  # "hourly" or "fixed"
    budget: float | None
    hourly_min: float | None
    hourly_max: float | None
    skills: list[str]
    experience_level: str
    duration: str
    workload: str
    category: str
    client_country: str
    payment_verified: bool
    client_total_spent: float
    client_hires: int
    client_rating: float | None
    client_reviews: int
    proposals_tier: str
    connects_required: int
    posted_at: datetime
    screening_questions: list[str] = field(default_factory=list)
    # Hidden from every page and the API: how likely the client is to engage (0..1), drives simulated outcomes.
    quality: float = 0.5

    @property
    def applicants_estimate(self) -> int:
        """A number inside the proposals tier, as the API reports a count rather than a tier."""
        return {
            "Less than 5": 3,
            "5 to 10": 7,
            "10 to 15": 12,
            "15 to 20": 17,
            "20 to 50": 35,
            "50+": 60,
        }[self.proposals_tier]


def build_jobs(now: datetime | None = None, count: int = 24) -> list[SandboxJob]:
    """Return `count` deterministic postings, newest first; job i was posted 2*i+1 hours before `now`."""
    now = now or datetime.now(UTC)
    jobs = []
    for index in range(count):
        title, skills, category = TOPICS[index % len(TOPICS)]
        digest = hashlib.sha256(f"sandbox-job-{index}".encode()).hexdigest()
        hourly = index % 2 == 0
        long_text = index % 3 != 2
        description = f"We need help with: {title.lower()}. " + (
            "The scope is written down, the repository is ready and we review work twice a week. "
            "You will work with our in-house developer, write tests, and document the result. "
            "Please describe a similar project you finished and how you would start. " * 3
            if long_text
            else "Details in chat."
        )
        jobs.append(
            SandboxJob(
                ciphertext=f"~01{digest[:18]}",
                numeric_id=str(1_800_000_000_000_000_000 + index),
                title=f"{title} #{index + 1}",
                description=description.strip(),
                job_type="hourly" if hourly else "fixed",
                budget=None if hourly else float(150 + 250 * (index % 7)),
                hourly_min=float(15 + 5 * (index % 5)) if hourly else None,
                hourly_max=float(35 + 10 * (index % 5)) if hourly else None,
                skills=list(skills),
                experience_level=EXPERIENCE[index % 3],
                duration=DURATIONS[index % 4],
                workload=WORKLOADS[index % 2],
                category=category,
                client_country=COUNTRIES[index % len(COUNTRIES)],
                payment_verified=index % 4 != 3,
                client_total_spent=float([0, 850, 12_500, 140_000, 3_200][index % 5]),
                client_hires=[0, 3, 18, 120, 7][index % 5],
                client_rating=None if index % 5 == 0 else [0, 4.2, 4.9, 4.75, 3.8][index % 5],
                client_reviews=[0, 2, 15, 96, 5][index % 5],
                proposals_tier=PROPOSAL_TIERS[index % len(PROPOSAL_TIERS)],
                connects_required=[4, 8, 12, 16][index % 4],
                posted_at=(now - timedelta(hours=2 * index + 1)).replace(microsecond=0),
                screening_questions=(
                    ["Describe your recent experience with similar projects.", "What is your availability?"]
                    if index % 3 == 0
                    else []
                ),
                quality=_hidden_quality(index, digest, long_text),
            )
        )
    return jobs


def _hidden_quality(index: int, digest: str, long_text: bool) -> float:
    """How engaged the client will be: partly what a job page shows (verified payment, rating, hires, a written
    scope), partly chance, so a score built from the visible signals can predict it but never perfectly."""
    rating = [0, 4.2, 4.9, 4.75, 3.8][index % 5]
    hires = [0, 3, 18, 120, 7][index % 5]
    noise = int(digest[20:24], 16) / 0xFFFF
    visible = 0.3 * (index % 4 != 3) + 0.25 * (rating / 5) + 0.2 * min(1.0, hires / 20) + 0.25 * long_text
    return round(0.6 * visible + 0.4 * noise, 3)


def matches(job: SandboxJob, *, query: str = "", skills: list[str] | None = None, category: str = "") -> bool:
    """Upwork-like matching: every query word in title, description or skills; any listed skill; the category."""
    haystack = " ".join([job.title, job.description, *job.skills]).lower()
    if query and not all(word in haystack for word in query.lower().split()):
        return False
    if skills and not {s.lower() for s in job.skills} & {s.lower() for s in skills}:
        return False
    return not (category and job.category.lower() != category.lower())


# --- simulated clients ---------------------------------------------------------------------------------------
# Kinds of client events, in the order they can happen to one proposal.
OUTCOME_KINDS = ("viewed", "replied", "interview", "offer", "hired", "declined", "job_closed", "job_cancelled")


@dataclass
class ClientEvent:
    kind: str
    at: datetime
    connects_refunded: int = 0


def client_timeline(
    job: SandboxJob, *, submitted_at: datetime, connects_spent: int, seed: int = 0
) -> list[ClientEvent]:
    """What the client of `job` does with a proposal sent at `submitted_at`: seeded, so the same every run.

    Better jobs (hidden `quality`) and earlier proposals (hours after posting) are viewed, answered, interviewed
    and hired more often. A post cancelled without a hire refunds the proposal's Connects.
    """
    rng = random.Random(f"{seed}:{job.ciphertext}")
    quality = job.quality
    hours_late = max(0.0, (submitted_at - job.posted_at).total_seconds() / 3600)
    speed = 0.35 + 0.65 * math.exp(-hours_late / 24)  # 1.0 right after posting, ~0.35 days later
    events: list[ClientEvent] = []
    moment = submitted_at

    def step(kind: str, low_hours: float, high_hours: float) -> None:
        nonlocal moment
        moment = moment + timedelta(hours=rng.uniform(low_hours, high_hours))
        events.append(ClientEvent(kind, moment.replace(microsecond=0)))

    if rng.random() < min(0.95, (0.2 + 0.7 * quality) * speed):
        step("viewed", 0.5, 48)
        if rng.random() < (0.02 + 0.5 * quality**2) * (0.5 + 0.5 * speed):
            step("replied", 1, 72)
            if rng.random() < 0.3 + 0.4 * quality:
                step("interview", 12, 96)
                if rng.random() < 0.2 + 0.5 * quality:
                    step("offer", 24, 120)
                    step("hired", 1, 48)
                    return events
                if rng.random() < 0.7:
                    step("declined", 24, 168)
                    return events
    ending = rng.random()
    if ending < 0.1 + 0.25 * (1 - quality):
        step("job_cancelled", 72, 600)
        events[-1].connects_refunded = connects_spent
    elif ending < 0.65:
        step("job_closed", 72, 600)
    return events


# Postings published over time (POST /__sandbox__/config {"new_posting_every": S}): the topics a Python profile
# matches, from clients a default profile scores well, so each one is a lead worth an alert.
NEW_POSTING_TOPICS = [topic for topic in TOPICS if "Python" in topic[1]]


def new_posting(*, number: int, nonce: str, now: datetime | None = None) -> SandboxJob:
    """The `number`-th posting published while the sandbox runs, posted `now` (to the microsecond)."""
    now = now or datetime.now(UTC)
    title, skills, category = NEW_POSTING_TOPICS[number % len(NEW_POSTING_TOPICS)]
    digest = hashlib.sha256(f"sandbox-new-{nonce}-{number}".encode()).hexdigest()
    description = (
        f"New today: {title.lower()}. The scope is written down, the repository is ready and we review work twice "
        "a week. You will work with our in-house developer, write tests, and document the result. Please describe "
        "a similar project you finished and how you would start. " * 2
    )
    return SandboxJob(
        ciphertext=f"~02{digest[:18]}",
        numeric_id=str(1_900_000_000_000_000_000 + number),
        title=f"{title} (new #{number + 1})",
        description=description.strip(),
        job_type="hourly",
        budget=None,
        hourly_min=40.0,
        hourly_max=70.0,
        skills=list(skills),
        experience_level="Expert",
        duration="1 to 3 months",
        workload="More than 30 hrs/week",
        category=category,
        client_country="United States",
        payment_verified=True,
        client_total_spent=140_000.0,
        client_hires=120,
        client_rating=4.9,
        client_reviews=96,
        proposals_tier="Less than 5",
        connects_required=8,
        posted_at=now,
    )
