"""The hook mailbox: one workflow per (source, key) where a waiting stage and the vendor's events meet.

Both sides reach it by update-with-start (workflow ID `stagegate-hook:{source}:{key}`), so whichever comes
first starts it and waits for the other:

- the stage activity registers its stage (`register_waiter`) once its request has returned and the key is
  known; events kept before then are queued for it;
- `POST /hooks/{source}` delivers each verified event (`deliver_event`): a repeated event ID is answered as a
  duplicate, an event nobody waits on yet is kept for its TTL, anything else is queued.

The loop hands queued events, in arrival order, to the stage the way its mode does: signal mode by signalling
`advance_stage` itself (a workflow command: no activity on the way), update and token mode through the
delivery activity (the advance update with its verdict, or completing the open activity; a workflow can do
neither). Handlers only record;
an update-mode delivery's handler waits (briefly, bounded by the endpoint) for the stage's verdict so the
vendor's answer can say it. The mailbox ends when nothing is kept or queued and no stage waits (or its final
outcome has settled), and continues as new when its history grows long.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from app.gate import mailbox_rules as rules
    from app.gate.hook_types import (
        ACTIVITY_DELIVER_HOOK_EVENT,
        ERR_KEY_TAKEN,
        MAILBOX_WORKFLOW_NAME,
        QUERY_MAILBOX_STATUS,
        SIGNAL_MAILBOX_DELIVER,
        UPDATE_MAILBOX_DELIVER,
        UPDATE_MAILBOX_REGISTER,
        WAITER_GRACE_SECONDS,
        DeliveryResult,
        HookDelivery,
        HookEventIn,
        HookWaiter,
        MailboxAnswer,
        MailboxInput,
        MailboxState,
        MailboxStatus,
        RegisterAnswer,
    )
    from app.gate.types import SIGNAL_ADVANCE_STAGE, Mode, StageCallback

DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(seconds=30)
)
DELIVERY_START_TO_CLOSE = timedelta(seconds=30)
# The shortest time a delivery is retried for, even for a stage whose deadline is (nearly) over.
MIN_DELIVERY_WINDOW = timedelta(minutes=2)


@workflow.defn(name=MAILBOX_WORKFLOW_NAME)
class HookMailboxWorkflow:
    """Keeps a key's events until its stage waits, and hands each to the stage once."""

    @workflow.init
    def __init__(self, inp: MailboxInput) -> None:
        self.state = inp.state if inp.state is not None else MailboxState(source=inp.source, key=inp.key)

    @workflow.query(name=QUERY_MAILBOX_STATUS)
    def status(self) -> MailboxStatus:
        """Who waits, which events are kept or queued, and what happened to the last few."""
        return rules.status_of(self.state)

    @workflow.update(name=UPDATE_MAILBOX_DELIVER)
    async def deliver_event(self, event: HookEventIn) -> MailboxAnswer:
        """A verified event: a duplicate, kept for a stage to come, or queued (update mode: with its verdict)."""
        answer = rules.receive(self.state, event, _now())
        self._show()
        if answer is not None:
            return answer
        waiter = self.state.waiter
        assert waiter is not None  # receive queues only for an active waiter
        if waiter.mode is Mode.UPDATE and event.answer_within_seconds > 0:
            try:
                await workflow.wait_condition(
                    lambda: rules.fate(self.state, event.event_id) is not None,
                    timeout=event.answer_within_seconds,
                    timeout_summary="hook event: the stage's verdict",
                )
            except TimeoutError:
                pass
        fate = rules.fate(self.state, event.event_id)
        return MailboxAnswer(
            fate.outcome if fate is not None else "delivering",
            mode=waiter.mode,
            verdict=fate.verdict if fate is not None else None,
            workflow_id=waiter.workflow_id,
            stage=waiter.stage,
        )

    @workflow.signal(name=SIGNAL_MAILBOX_DELIVER)
    def deliver_event_signal(self, event: HookEventIn) -> None:
        """The same event by signal-with-start: the endpoint's fallback when no worker answered the update in time
        (Temporal alone takes a signal, so the vendor still gets its 2xx). A repeat of an update is a duplicate."""
        rules.receive(self.state, event, _now())
        self._show()

    @workflow.update(name=UPDATE_MAILBOX_REGISTER)
    def register_waiter(self, waiter: HookWaiter) -> RegisterAnswer:
        """A stage waits on this key: early events are queued for it."""
        answer = rules.register(self.state, waiter, _now())
        self._show()
        return answer

    @register_waiter.validator
    def _validate_register(self, waiter: HookWaiter) -> None:
        problem = rules.registration_problem(self.state, waiter, _now())
        if problem is not None:
            raise ApplicationError(problem, type=ERR_KEY_TAKEN, non_retryable=True)

    @workflow.run
    async def run(self, inp: MailboxInput) -> MailboxStatus:
        """Deliver what is queued; wake for TTLs and deadlines; end when nothing is left to do."""
        del inp
        state = self.state
        self._show()
        try:  # the message that started it is handled first; a start without one ends after a while
            await workflow.wait_condition(lambda: bool(state.seen or state.waiter), timeout=rules.IDLE_START_SECONDS)
        except TimeoutError:
            pass
        while True:
            while state.queue and state.waiter is not None:
                await self._deliver(state.queue[0], state.waiter)
                state.queue.pop(0)
                self._show()
            rules.expire(state, _now())
            if rules.finished(state, _now()):
                # A message handled meanwhile (its handler runs before we go on) means there is work again.
                await workflow.wait_condition(workflow.all_handlers_finished)
                if rules.finished(state, _now()):
                    break
                continue
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(MailboxInput(state.source, state.key, rules.carry(state)))
            try:
                await workflow.wait_condition(
                    lambda: bool(state.queue and state.waiter is not None),
                    timeout=rules.next_wakeup(state, _now()),
                    timeout_summary="hook mailbox: next TTL or deadline",
                )
            except TimeoutError:
                pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        return rules.status_of(state)

    async def _deliver(self, event: HookEventIn, waiter: HookWaiter) -> None:
        delivery = rules.reading(event, waiter)
        if isinstance(delivery, MailboxAnswer):
            workflow.logger.info("hook event %s not forwarded: %s", event.event_id, delivery.detail)
            rules.not_delivered(self.state, event, delivery, _iso())
            return
        if waiter.mode is Mode.SIGNAL:
            result = await self._signal(delivery)
            rules.delivered(self.state, event, delivery, result, _now(), _iso())
            return
        window = timedelta(seconds=waiter.deadline_epoch + WAITER_GRACE_SECONDS - _now())
        try:
            result = await workflow.execute_activity(
                ACTIVITY_DELIVER_HOOK_EVENT,
                delivery,
                result_type=DeliveryResult,
                start_to_close_timeout=DELIVERY_START_TO_CLOSE,
                schedule_to_close_timeout=max(window, MIN_DELIVERY_WINDOW),
                retry_policy=DELIVERY_RETRY,
                summary=f"deliver {event.event_id[:60]} to stage {waiter.stage} ({waiter.mode.value})",
            )
        except ActivityError as err:
            workflow.logger.warning("hook event %s could not be delivered: %s", event.event_id, err.cause or err)
            rules.not_delivered(
                self.state, event, MailboxAnswer("undelivered", detail=str(err.cause or err)[:200]), _iso()
            )
            return
        rules.delivered(self.state, event, delivery, result, _now(), _iso())

    async def _signal(self, delivery: HookDelivery) -> DeliveryResult:
        """Signal mode: the mailbox signals the stage's workflow itself (a command of its own, durable at once; no
        activity on the way). The gate dedupes by the callback ID, so a repeat never advances twice."""
        waiter = delivery.waiter
        callback = StageCallback(
            stage=waiter.stage,
            status=delivery.status,
            result=delivery.result,
            error=delivery.error,
            callback_id=delivery.callback_id,
            progress=delivery.progress,
            received_at=delivery.received_at,
        )
        try:
            await workflow.get_external_workflow_handle(waiter.workflow_id).signal(SIGNAL_ADVANCE_STAGE, callback)
        except FailureError as err:  # the stage's workflow is gone (closed, or never was)
            workflow.logger.info("hook event %s: stage's workflow not signalled: %s", delivery.callback_id, err)
            return DeliveryResult("signal advance_stage", "workflow_closed", status_code=409)
        return DeliveryResult("signal advance_stage", "signalled")

    def _show(self) -> None:
        """Current details for operators: the key, who waits, how many events are kept."""
        state = self.state
        waiter = state.waiter
        who = f"stage {waiter.stage} of {waiter.workflow_id} ({waiter.mode.value})" if waiter else "nobody yet"
        workflow.set_current_details(
            f"**{state.source}** key `{state.key}`: waits {who}; "
            f"{len(state.pending)} kept, {len(state.queue)} queued, {state.dropped} dropped"
        )


def _now() -> float:
    return workflow.now().timestamp()


def _iso() -> str:
    return workflow.now().isoformat()
