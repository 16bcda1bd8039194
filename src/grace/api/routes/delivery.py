"""Subscriptions, a model's dependents and deliveries (scope admin): where events go outside
the process and what became of each."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from grace.api.deps import MAX_ID, Admin, GraceDep, ModelId, RecordId, Run
from grace.api.responses import JSONReply, reply
from grace.api.schemas_delivery import (
    DeliveryOut,
    DeliveryPage,
    DependentIn,
    ReplayIn,
    ReplayOut,
    SecretIn,
    SubscriptionCreatedOut,
    SubscriptionIn,
    SubscriptionOut,
)
from grace.api.shapes import Identifier
from grace.bootstrap import Grace
from grace.domain.delivery import DeliveryStatus
from grace.services.subscriptions import Created

router = APIRouter(prefix="/api/model-registry", tags=["delivery"])


def _created(created: Created) -> JSONReply:
    body: dict[str, Any] = {**created.subscription.to_dict(), "secret": created.generated_secret}
    return reply(body, status_code=201)


async def _with_counts(grace: Grace, run: Any, subscription_id: int) -> dict[str, Any]:
    found = await run(grace.subscriptions.get, subscription_id)
    counts = await run(grace.subscriptions.counts, subscription_id)
    return {**found.to_dict(), "deliveries": counts}


@router.post("/subscriptions", response_model=SubscriptionCreatedOut, status_code=201)
async def create_subscription(body: SubscriptionIn, grace: GraceDep, _: Admin) -> JSONReply:
    """Send matching events to a webhook, a NATS server, PagerDuty, Slack or an
    Alertmanager, from now on."""
    return _created(
        await grace.subscriptions.create(
            body.kind,
            body.url,
            secret=body.secret,
            event_types=body.event_types,
            model_ids=body.model_ids,
            tags=body.tags,
            min_severity=body.min_severity,
        )
    )


@router.get("/subscriptions", response_model=list[SubscriptionOut])
async def list_subscriptions(
    grace: GraceDep,
    _: Admin,
    run: Run,
    after: Annotated[int, Query(ge=0, le=MAX_ID, description="Only ids after this one.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONReply:
    found = await run(grace.subscriptions.list_subscriptions, after_id=after, limit=limit)
    return reply([s.to_dict() for s in found])


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionOut)
async def get_subscription(
    subscription_id: RecordId, grace: GraceDep, _: Admin, run: Run
) -> JSONReply:
    """The subscription and how many of its deliveries are in each status."""
    return reply(await _with_counts(grace, run, subscription_id))


@router.delete("/subscriptions/{subscription_id}", response_model=SubscriptionOut)
async def delete_subscription(
    subscription_id: RecordId, grace: GraceDep, _: Admin, run: Run
) -> JSONReply:
    """Stop delivering; its deliveries and their attempts are removed with it.  Answers the
    subscription as it was."""
    return reply((await run(grace.subscriptions.remove, subscription_id)).to_dict())


@router.post("/subscriptions/{subscription_id}/replay", response_model=ReplayOut)
async def replay_subscription(
    subscription_id: RecordId, body: ReplayIn, grace: GraceDep, _: Admin, run: Run
) -> JSONReply:
    """Deliver again every matching event from ``from_seq`` on."""
    reopened = await run(grace.subscriptions.replay, subscription_id, body.from_seq)
    return reply(
        {"subscription_id": subscription_id, "from_seq": body.from_seq, "reopened": reopened}
    )


@router.post("/subscriptions/{subscription_id}/secret", response_model=SubscriptionCreatedOut)
async def rotate_secret(
    subscription_id: RecordId, body: SecretIn, grace: GraceDep, _: Admin, run: Run
) -> JSONReply:
    """A new signing secret (shown once when generated); the previous one keeps signing
    beside it (two signatures per request) until it is dropped."""
    created = await run(grace.subscriptions.rotate_secret, subscription_id, body.secret)
    return reply({**created.subscription.to_dict(), "secret": created.generated_secret})


@router.delete("/subscriptions/{subscription_id}/secret/previous", response_model=SubscriptionOut)
async def drop_previous_secret(
    subscription_id: RecordId, grace: GraceDep, _: Admin, run: Run
) -> JSONReply:
    """End a rotation: sign with the newest secret only."""
    return reply((await run(grace.subscriptions.drop_previous_secret, subscription_id)).to_dict())


@router.get("/deliveries", response_model=DeliveryPage)
async def list_deliveries(
    grace: GraceDep,
    _: Admin,
    run: Run,
    subscription: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: DeliveryStatus | None = None,
    event_id: Annotated[
        str | None, Query(pattern=r"^[0-9A-Za-z_-]{1,64}$", description="One event's deliveries.")
    ] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Older than this id.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONReply:
    """Deliveries, newest first; each with its latest outcome (its attempts: GET by id)."""
    found = await run(
        grace.subscriptions.deliveries,
        subscription_id=subscription,
        status=status,
        event_id=event_id,
        before_id=before,
        limit=limit,
    )
    return reply(
        {
            "items": [d.to_dict() for d in found],
            "next_before": found[-1].id if len(found) == limit else None,
        }
    )


@router.get("/deliveries/{delivery_id}", response_model=DeliveryOut)
async def get_delivery(delivery_id: RecordId, grace: GraceDep, _: Admin, run: Run) -> JSONReply:
    """One delivery with its attempts (time, status code, error, duration)."""
    return reply((await run(grace.subscriptions.delivery, delivery_id)).to_dict())


@router.post("/deliveries/{delivery_id}/replay", response_model=DeliveryOut)
async def replay_delivery(delivery_id: RecordId, grace: GraceDep, _: Admin, run: Run) -> JSONReply:
    """Send a dead letter again; its tries start over (409 for any other delivery)."""
    return reply((await run(grace.subscriptions.replay_delivery, delivery_id)).to_dict())


@router.post(
    "/models/{model_id}/dependents", response_model=SubscriptionCreatedOut, status_code=201
)
async def add_dependent(
    model_id: ModelId, body: DependentIn, grace: GraceDep, _: Admin
) -> JSONReply:
    """A service that uses the model: each rollback sends it grace.model.rolled_back.v1."""
    return _created(
        await grace.subscriptions.add_dependent(model_id, body.name, body.url, body.secret)
    )


@router.get("/models/{model_id}/dependents", response_model=list[SubscriptionOut])
async def list_dependents(model_id: ModelId, grace: GraceDep, _: Admin, run: Run) -> JSONReply:
    return reply([d.to_dict() for d in await run(grace.subscriptions.dependents, model_id)])


@router.delete("/models/{model_id}/dependents/{name}", response_model=SubscriptionOut)
async def remove_dependent(
    model_id: ModelId, name: Identifier, grace: GraceDep, _: Admin, run: Run
) -> JSONReply:
    """No longer tell it of rollbacks.  Answers the dependent as it was."""
    return reply((await run(grace.subscriptions.remove_dependent, model_id, name)).to_dict())
