"""Large histories made fast, for report tests and benchmarks: export records imported in one transaction.

Why import: storing 50,000 evaluations one ``add`` at a time is 50,000 committed transactions
(each fsynced); ``import_records`` is the product's own bulk path and writes the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pipeline_steps.files import iso_utc
from pipeline_steps.history import History

START = 1767225600  # 2026-01-01T00:00:00Z
INDICATORS = ("response_time_p95", "error_rate", "throughput", "cpu_seconds")


def records(count: int, *, stage: str = "staging", service: str = "carts", project: str = "sockshop", first_id: int = 1,
            failing: tuple[int, ...] = ()) -> Iterator[dict[str, Any]]:
    """``count`` evaluations of one service, oldest first, one minute apart; the ones whose position
    is in ``failing`` (negative counts from the newest) FAIL on response_time_p95."""
    bad = {n % count for n in failing}
    for n in range(count):
        fails = n in bad
        ctx = {"project": project, "stage": stage, "service": service, "tag": f"1.{n // 100}.{n % 100}",
               "keptn_context": f"ctx-{n}"}
        yield {
            "id": first_id + n, "project": project, "stage": stage, "service": service,
            "created_at": iso_utc(START + 60 * n, micro=True), "kind": "slo",
            "verdict": "FAIL" if fails else "PASS", "result": "fail" if fails else "pass", "score": 3.0 if fails else 4.0,
            "max_score": 4.0, "context": ctx,
            "indicators": [
                {"id": "response_time_p95", "value": (900.0 if fails else 200.0 + (n % 50)),
                 "status": "fail" if fails else "pass",
                 "score": 0.0 if fails else 1.0, "max_score": 1.0, "criteria": "pass: (<=+10% and <600)",
                 "query": "histogram_quantile(0.95, sum(rate(http_server_duration_seconds_bucket[5m])) by (le))",
                 "source": "prometheus", "reason": "900 violates <600 (target 600)" if fails else "", "key_sli": True},
                *({"id": name, "value": float(n % 7), "status": "pass", "score": 1.0, "max_score": 1.0, "criteria": "pass: (<5)",
                   "query": f"sum(rate({name}[5m]))", "source": "prometheus", "reason": "", "key_sli": False}
                  for name in INDICATORS[1:]),
            ],
        }


def fill(store: History, count: int, **options: Any) -> None:
    """Store ``count`` evaluations (``records`` options) in one transaction."""
    added, _ = store.import_records(records(count, **options))
    assert added == count
