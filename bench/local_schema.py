"""Structured output on the bundled local model: the README's schema example and the
tutorial's list schema as valid JSON (seconds per answer), and grammar-constrained decoding
speed beside the same model unconstrained (tokens/s, same prompt)."""

from __future__ import annotations

import statistics
import time

README_SCHEMA = {"sentiment": ["positive", "negative", "neutral"], "score": float,
                 "reasons": list[str], "spam": bool}
TUTORIAL_SCHEMA = {"name": str, "age": int, "hobbies": list[str]}
REVIEW = "Review: The parcel came two weeks late and the box was crushed. Never again."
PERSON = "Invent a person: a name, an age and their hobbies."


def _answer_seconds(schema: dict, prompt: str, rounds: int) -> tuple[float, bool]:
    from glm_magic.structured import ask

    import glm_magic

    s = glm_magic.session()
    times, valid = [], True
    for _ in range(rounds):
        t = time.perf_counter()
        answer = ask(s, prompt, schema, provider="local", model="default", temperature=0,
                     stream=False, once=True)
        times.append(time.perf_counter() - t)
        valid = valid and answer.ok
    return statistics.median(times), valid


def _rates(rounds: int) -> tuple[float, float]:
    from glm_magic import Client
    from glm_magic.schema import Schema

    client = Client(provider="local")
    messages = [{"role": "user", "content": PERSON + " Answer in JSON with name, age and "
                 "hobbies."}]
    fmt = Schema.of(TUTORIAL_SCHEMA).response_format()
    free, constrained = [], []
    for _ in range(rounds):
        for out, extra in ((free, {}), (constrained, {"response_format": fmt})):
            t = time.perf_counter()
            r = client.chat.completions.create(model="default", messages=messages,
                                               temperature=0, max_tokens=96, **extra)
            out.append(r.usage.completion_tokens / (time.perf_counter() - t))
    return statistics.median(free), statistics.median(constrained)


def run(rounds: int = 3) -> dict[str, dict]:
    from glm_magic import Client

    Client(provider="local").chat.completions.create(  # load the model once, outside timing
        model="default", messages=[{"role": "user", "content": "hi"}], max_tokens=2)
    readme_s, readme_ok = _answer_seconds(README_SCHEMA, REVIEW, rounds)
    tutorial_s, tutorial_ok = _answer_seconds(TUTORIAL_SCHEMA, PERSON, rounds)
    free, constrained = _rates(rounds)
    return {
        "README schema on the bundled model, valid JSON (s per answer)": {
            "glm_magic": readme_s if readme_ok else float("inf")},
        "tutorial list schema on the bundled model, valid JSON (s per answer)": {
            "glm_magic": tutorial_s if tutorial_ok else float("inf")},
        "bundled model tokens/s, schema-constrained vs free": {
            "plain": free, "glm_magic": constrained, "higher_is_better": True},
    }


if __name__ == "__main__":
    for name, row in run().items():
        print(name, row)
