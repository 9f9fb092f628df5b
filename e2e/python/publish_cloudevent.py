"""Publishes one CloudEvent built with the CloudEvents Python SDK on a NATS
JetStream subject, the way a producer in Python would (docs/protocol.md §2).

usage: publish_cloudevent.py MODE NATS_URL SUBJECT TYPE ID DATA_JSON

MODE is `structured` (the event as JSON in the body, data as JSON),
`structured-base64` (data given as bytes, which the SDK sends as
data_base64) or `binary` (attributes as ce-* headers, data in the body).
The SDK's HTTP binding gives the headers and the body; they travel as NATS
headers and payload. Prints the headers and body it sent.
"""
import asyncio
import json
import sys

import nats
from cloudevents.core.bindings.http import to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent


async def main(mode, url, subject, event_type, event_id, data_json):
    attributes = {"type": event_type, "source": "python-sdk", "id": event_id,
                  "correlationid": f"corr-{event_id}"}
    data = json.loads(data_json)
    if mode == "structured-base64":
        attributes["datacontenttype"] = "application/json"
        data = json.dumps(data).encode()
    event = CloudEvent(attributes, data)
    encode = to_binary if mode == "binary" else to_structured
    message = encode(event, JSONFormat())
    nc = await nats.connect(url)
    try:
        ack = await nc.jetstream().publish(subject, message.body, headers=message.headers)
    finally:
        await nc.close()
    print(json.dumps({"headers": message.headers, "body": message.body.decode(), "seq": ack.seq}))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
