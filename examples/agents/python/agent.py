"""A Junction agent in Python: answers agents.<name>.run (docs/protocol.md §5)."""
import asyncio, json, os
import nats

async def main():
    name, prefix = os.environ.get("AGENT_NAME", "py-echo"), os.environ.get("JUNCTION_NATS__PREFIX", "")
    subject = f"{prefix}.agents.{name}.run" if prefix else f"agents.{name}.run"
    nc = await nats.connect(os.environ.get("JUNCTION_NATS__URL", "nats://127.0.0.1:4222"))
    replies = {}  # idempotency key -> reply: a redelivered or retried call gets the same answer

    async def run(msg):
        request = json.loads(msg.data)
        key = (msg.headers or {}).get("Junction-Idempotency-Key", request["idempotency_key"])
        if key not in replies:
            output = {"echo": request["input"], "task": request["task"], "call": len(replies) + 1}
            replies[key] = json.dumps({"output": output}).encode()
        await msg.respond(replies[key])

    await nc.subscribe(subject, queue=f"agent-{name}", cb=run)
    await nc.flush()
    print(f"serving {subject}", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
