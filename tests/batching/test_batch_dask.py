"""batch() on a dask DataFrame, run by a real LocalCluster of two worker processes against
the loopback GLM server; every worker's rows land in the one ledger."""

from __future__ import annotations

import pandas as pd
import pytest

import glm_magic
from glm_magic.testing import zhipu_error

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def reviews(n: int = 40) -> pd.DataFrame:
    return pd.DataFrame({"text": [f"review {i}" for i in range(n)]},
                        index=pd.Index([f"id{i}" for i in range(n)], name="id"))


def test_a_dask_frame_gives_a_lazy_aligned_dask_frame(cluster, zhipu):
    # the workers started before this test's environment: tell them where the server is
    cluster.run(_environ, dict(_env()))
    ddf = dd.from_pandas(reviews(), npartitions=4)
    out = glm_magic.batch(ddf, template="Sentiment of: {text}", model="glm-4-flash",
                          concurrency=8)
    assert isinstance(out, dd.DataFrame)  # lazy: nothing sent yet
    assert not [r for r in zhipu.received if r.path.endswith("/chat/completions")]
    assert list(out._meta.columns) == list(glm_magic.batching.COLUMNS)
    df = out.compute()
    assert df.index.equals(ddf.index.compute())  # aligned with the input, partition by partition
    assert (df["status"] == "ok").all()
    assert df.loc["id7", "answer"] == "echo: Sentiment of: review 7"
    assert df.dtypes.to_dict() == out._meta.dtypes.to_dict()
    ledger = glm_magic.usage(source="batch")  # both workers wrote to the one ledger
    assert len(ledger) == 40 and ledger["call_id"].nunique() == 40


def test_an_arrears_stop_ends_the_whole_computation(cluster, zhipu):
    cluster.run(_environ, dict(_env()))
    original = zhipu.app
    zhipu.app = _arrears_after(zhipu, 6)
    try:
        ddf = dd.from_pandas(reviews(60), npartitions=6)
        df = glm_magic.batch(ddf, template="{text}", concurrency=2).compute()
    finally:
        zhipu.app = original
    ok = (df["status"] == "ok").sum()
    assert 0 < ok < 60 and (df["status"] == "skipped").sum() > 0
    assert len(df) == 60  # every row is there: done, failed or skipped


def _arrears_after(zhipu, n):
    count = {"n": 0}
    original = type(zhipu).answer

    def app(rec):
        if rec.path.endswith("/chat/completions"):
            count["n"] += 1
            if count["n"] > n:
                return zhipu_error("1113", "余额不足", 429)
        return original(zhipu, rec)
    return app


def _env() -> dict[str, str]:
    import os

    return {k: os.environ[k] for k in ("ZHIPUAI_API_KEY", "ZHIPUAI_BASE_URL",
                                        "GLM_MAGIC_LEDGER") if k in os.environ}


def _environ(values: dict[str, str]) -> None:
    import os

    from glm_magic.sessions import _reset_session

    os.environ.update(values)
    _reset_session()
