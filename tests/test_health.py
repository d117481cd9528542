"""Liveness and readiness."""


async def test_healthz(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_names_temporal_when_it_is_down(client):
    # The default app fixture points at a Temporal address where nothing listens.
    response = await client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"] == {"database": "ok", "temporal": "unavailable"}
    assert body["code"] == "not_ready"
    assert "temporal" in body["detail"]
