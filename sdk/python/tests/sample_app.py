"""A sample LLM application for the distro's tests and benchmark: the real `openai` and `anthropic`
clients against the capture corpus's fake provider (scripts/capture/fake_provider.py), in-process.

    sample_app.py --init          calls observatory_sdk.init() itself
    opentelemetry-instrument sample_app.py    (no --init): the distro configures everything

Each call runs inside `observatory_sdk.user(<id>)` (except one, with no user), some from threads and
some from asyncio tasks at the same time, so each must keep its own user. It prints one JSON object:
the calls made (provider, streamed, user, how), what the W3C propagators inject inside a user
context, and how long the calls and the exit took.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts" / "capture"))
from fake_provider import FakeState, make_provider
from scenarios import SCENARIOS

CHAT = {p: next(s for s in SCENARIOS[p] if s.name == "chat") for p in ("openai", "anthropic")}
MODEL = {p: CHAT[p].request_model for p in CHAT}


def openai_call(base: str, stream: bool) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{base}/v1", api_key="sk-test", max_retries=0)
    messages: Any = [
        {"role": "system", "content": CHAT["openai"].system},
        {"role": "user", "content": CHAT["openai"].prompt},
    ]
    if stream:
        for _ in client.chat.completions.create(
            model=MODEL["openai"], messages=messages, stream=True, stream_options={"include_usage": True}
        ):
            pass
    else:
        client.chat.completions.create(model=MODEL["openai"], messages=messages)


def anthropic_call(base: str, stream: bool) -> None:
    import anthropic

    client = anthropic.Anthropic(base_url=base, api_key="sk-ant-test", max_retries=0)
    kw: Any = {
        "model": MODEL["anthropic"],
        "max_tokens": 256,
        "system": CHAT["anthropic"].system,
        "messages": [{"role": "user", "content": CHAT["anthropic"].prompt}],
    }
    if stream:
        for _ in client.messages.create(stream=True, **kw):
            pass
    else:
        client.messages.create(**kw)


async def async_call(base: str, provider: str) -> None:
    import anthropic
    import openai

    if provider == "openai":
        async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="sk-test", max_retries=0) as oc:
            messages: Any = [{"role": "user", "content": CHAT["openai"].prompt}]
            await oc.chat.completions.create(model=MODEL["openai"], messages=messages)
    else:
        async with anthropic.AsyncAnthropic(base_url=base, api_key="sk-ant-test", max_retries=0) as ac:
            content = CHAT["anthropic"].prompt
            await ac.messages.create(
                model=MODEL["anthropic"], max_tokens=64, messages=[{"role": "user", "content": content}]
            )


CALL = {"openai": openai_call, "anthropic": anthropic_call}


def rate_answers(base: str, state: FakeState, tag: str, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two answers rated as users rate them: thumbs up inside the request that answered (its trace),
    and a score given after the request ended, for a trace of two calls (which rates the last)."""
    import observatory_sdk
    from opentelemetry import trace

    tracer = trace.get_tracer("sample")
    state.scenario = CHAT["openai"]
    rater = f"{tag}-rater"
    comment = "Spot on, thanks! Write to jane.doe@example.com"
    with observatory_sdk.user(rater):
        with tracer.start_as_current_span("answer"):
            CALL["openai"](base, False)
            observatory_sdk.feedback(True, comment)
            now = observatory_sdk.current_trace_id()
        with tracer.start_as_current_span("answer"):
            CALL["openai"](base, False)
            CALL["openai"](base, True)  # ends last: the trace's rating is its
            later = observatory_sdk.current_trace_id()
        observatory_sdk.feedback(0.25, trace_id=later)  # outside the trace, by its id
    calls += [
        {"provider": "openai", "stream": s, "user": rater, "how": "rated"} for s in (False, False, True)
    ]
    return [
        {"trace_id": now, "score": 1.0, "label": "thumbs_up", "comment": comment, "user": rater},
        {"trace_id": later, "score": 0.25, "label": None, "comment": None, "user": rater},
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--init", action="store_true", help="call observatory_sdk.init() (else: opentelemetry-instrument)"
    )
    parser.add_argument("--application")
    parser.add_argument("--team")
    parser.add_argument("--environment")
    parser.add_argument("--tag", default="u", help="prefix of the user ids, so runs can be told apart")
    parser.add_argument("--capture-content", action="store_true", help="init(capture_content=True)")
    parser.add_argument("--extra-spans", type=int, default=0, help="then this many plain spans (memory)")
    parser.add_argument(
        "--feedback", action="store_true", help="then rate answers (observatory_sdk.feedback)"
    )
    args = parser.parse_args()

    import observatory_sdk

    if args.init:
        observatory_sdk.init(
            application=args.application,
            team=args.team,
            environment=args.environment,
            capture_content=args.capture_content or None,
        )
    state = FakeState()
    provider = make_provider(state)
    threading.Thread(target=provider.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{provider.server_address[1]}"
    calls: list[dict[str, Any]] = []
    t0 = time.perf_counter()

    for name in ("openai", "anthropic"):
        state.scenario = CHAT[name]
        for stream in (False, True):
            uid = f"{args.tag}-{name}-{'stream' if stream else 'plain'}"
            with observatory_sdk.user(uid):
                CALL[name](base, stream)
            calls.append({"provider": name, "stream": stream, "user": uid, "how": "sync"})
    state.scenario = CHAT["openai"]
    CALL["openai"](base, False)  # outside any user(): its span must carry no user.id
    calls.append({"provider": "openai", "stream": False, "user": None, "how": "no-user"})

    # The fake provider answers from one scenario at a time, so concurrency stays per provider.
    for name in ("openai", "anthropic"):
        state.scenario = CHAT[name]

        def threaded(i: int, name: str = name) -> dict[str, Any]:
            uid = f"{args.tag}-{name}-thread-{i}"
            with observatory_sdk.user(uid):
                CALL[name](base, False)
            return {"provider": name, "stream": False, "user": uid, "how": "thread"}

        with ThreadPoolExecutor(4) as pool:
            calls += list(pool.map(threaded, range(4)))

        async def tasks(name: str = name) -> list[dict[str, Any]]:
            async def one(i: int) -> dict[str, Any]:
                uid = f"{args.tag}-{name}-task-{i}"
                with observatory_sdk.user(uid):
                    await async_call(base, name)
                return {"provider": name, "stream": False, "user": uid, "how": "task"}

            return list(await asyncio.gather(*(one(i) for i in range(4))))

        calls += asyncio.run(tasks())

    from opentelemetry import propagate, trace

    carrier: dict[str, str] = {}
    with (
        observatory_sdk.user(f"{args.tag}-downstream"),
        trace.get_tracer("sample").start_as_current_span("handler"),
    ):
        propagate.inject(carrier)
    ratings = rate_answers(base, state, args.tag, calls) if args.feedback else []
    elapsed = time.perf_counter() - t0
    provider.shutdown()
    rss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracer = trace.get_tracer("sample")
    for i in range(args.extra_spans):  # while the collector is down these can only queue or be dropped
        with tracer.start_as_current_span("work", attributes={"gen_ai.request.model": "m", "i": i}):
            pass
    out = {
        "calls": calls,
        "carrier": carrier,
        "ratings": ratings,
        "calls_seconds": elapsed,
        "extra_spans_rss_growth_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before_kb,
        "finished_at": time.time(),  # what follows is the exit: the distro's last export
    }
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
