"""The service end to end: POST /v1/complaints over real HTTP (uvicorn on loopback, SQLite with
synchronous=FULL), one client after another, beside the parts of the same complaint measured in the same run:
the bare embedding, the model (`service.predict`), and the whole decision without HTTP and store.

    python -m bench.api_latency --model DIR [--n 300] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from bench.suite import _free_port
from serving.app import create_app
from serving.config import ServiceSettings
from serving.model_source import LoadedModel
from serving.store import Store
from triage.data import read_table
from triage.features.embedders import make_embedder
from triage.models import TriageModel
from triage.policy import load_policy
from triage.schemas import ComplaintIn
from triage.service import TriageService

CORPUS = Path(__file__).resolve().parents[1] / "datasets" / "complaints.jsonl"


def _ms(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"p50": round(statistics.median(ordered) * 1000, 2),
            "p95": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
            "p99": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 2)}


def run(model_dir: Path, n: int) -> dict:
    texts = list(read_table(CORPUS, ["text"])["text"].astype(str))
    texts = [texts[i % len(texts)] + f"（编号{i}）" for i in range(n)]
    model = TriageModel.load(model_dir)
    model.warm()

    reference = make_embedder("use")  # the bare USE encode, whatever the model's own embedder
    reference.encode(texts[:8])
    encode, predict, decide = [], [], []
    service = TriageService(model, load_policy(), None)
    service.similarity = TriageService.new_similarity(model, service.policy)
    for i, text in enumerate(texts):
        started = time.perf_counter()
        reference.encode([text])
        encode.append(time.perf_counter() - started)
        complaint = ComplaintIn(text=text, complaint_id=f"ref-{i}", customer_id=f"cust-{i % 97}")
        started = time.perf_counter()
        predictions, vectors = service.predict([complaint])
        predict.append(time.perf_counter() - started)
        service.decide(complaint, predictions[0], None if vectors is None else vectors[0])
        decide.append(time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as data:
        settings = ServiceSettings(data_dir=Path(data), model_source="dir", model_dir=model_dir, log_level="WARNING")
        store = Store(settings.store_url())
        _, key = store.create_key("bench", "intake")
        store.close()
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(settings, LoadedModel(model, str(model_dir))),
                                               host="127.0.0.1", port=port, log_config=None, access_log=False))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        http = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}) as client:
            for i, text in enumerate(texts):
                body = {"text": text, "complaint_id": f"http-{i}", "customer_id": f"cust-{i % 97}"}
                started = time.perf_counter()
                response = client.post("/v1/complaints", json=body)
                http.append(time.perf_counter() - started)
                assert response.status_code == 201, response.text
        server.should_exit = True
        thread.join()
    return {"n": n, "bare_encode_ms": _ms(encode), "model_predict_ms": _ms(predict),
            "decision_no_http_ms": _ms(decide), "http_post_ms": _ms(http),
            "http_over_decision_p50": round(statistics.median(http) / statistics.median(decide), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.model, args.n)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
