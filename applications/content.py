"""What an approved proposal version sends: the letter, and the screening answers written under the questions."""

from __future__ import annotations

import re

PLACEHOLDER = "[answer before sending]"
_ANSWERS_HEADING = re.compile(r"^\s*(?:#+\s*)?screening (?:answers|questions)\s*:?\s*$", re.IGNORECASE | re.MULTILINE)
_QUESTION_PREFIX = re.compile(r"^\s*(?:Q\s*\d*\s*[:.)-]|\d+\s*[.)]|[-*])\s*", re.IGNORECASE)
_ANSWER_PREFIX = re.compile(r"^\s*(?:A\s*\d*\s*[:.)-]|answer\s*:)\s*", re.IGNORECASE)


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text or "").strip().casefold()


def _question_line(lines: list[str], question: str, start: int) -> int | None:
    """Index of the first line at or after `start` that is this question (with or without a 'Q:' prefix)."""
    wanted = _normal(question)
    for index in range(start, len(lines)):
        if _normal(_QUESTION_PREFIX.sub("", lines[index])) == wanted:
            return index
    return None


def split_letter_and_answers(text: str, questions: list[str]) -> tuple[str, list[dict]]:
    """Split a proposal text into the cover letter and one answer per question, in the questions' order.

    The drafters write the answers after the letter, each under its question ("Q: ...", "A: ...", or the
    question alone on a line). A question not found gets an empty answer; the caller refuses those.
    """
    lines = (text or "").strip().splitlines()
    positions: list[int | None] = []
    cursor = 0
    for question in questions:
        found = _question_line(lines, question, cursor)
        positions.append(found)
        if found is not None:
            cursor = found + 1
    found_positions = [p for p in positions if p is not None]
    letter_end = min(found_positions) if found_positions else len(lines)
    letter_lines = lines[:letter_end]
    # Drop a trailing "Screening answers:" heading that introduced the answers.
    while letter_lines and (not letter_lines[-1].strip() or _ANSWERS_HEADING.match(letter_lines[-1])):
        letter_lines.pop()
    answers = []
    for question, position in zip(questions, positions, strict=True):
        answer = ""
        if position is not None:
            following = [p for p in found_positions if p > position]
            end = min(following) if following else len(lines)
            body = "\n".join(lines[position + 1 : end]).strip()
            answer = _ANSWER_PREFIX.sub("", body, count=1).strip()
        answers.append({"question": question, "answer": answer})
    return "\n".join(letter_lines).strip(), answers


def unfinished_parts(letter: str, answers: list[dict]) -> list[str]:
    """What a person still has to write before this can be sent (empty answers, placeholders)."""
    problems = []
    if not letter.strip():
        problems.append("The cover letter is empty.")
    if PLACEHOLDER in letter:
        problems.append(f"The cover letter still contains the placeholder {PLACEHOLDER}.")
    for item in answers:
        answer = (item.get("answer") or "").strip()
        if not answer or PLACEHOLDER in answer:
            problems.append(f"No answer to: {item.get('question')}")
    return problems
