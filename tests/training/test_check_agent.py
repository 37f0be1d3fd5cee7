import numpy as np
import pandas as pd
import pytest

import training
from core.modules import count_hooks
from envs import AgentError, UnknownNameError, make
from tests.training.test_torch_agent import CountingGRU, SmallCNN
from training import AgentCheck, TorchAgent, check_agent
from training.check import CHECKS

ENV_ID = "mesaprobe/CoinCorridor-v0"


def names(result: AgentCheck, passed) -> list[str]:
    return [c.name for c in result.checks if c.passed is passed]


# Deliberately broken agents, each violating exactly one part of the contract.


class WrongShape(TorchAgent):
    def act(self, obs, **kw):
        return super().act(obs, **kw)[:1]


class GlobalRandom(TorchAgent):
    def act(self, obs, *, deterministic=False, rng=None, **kw):
        self.logits(obs)
        return np.random.randint(0, 4, size=len(obs))  # ignores rng


class LeavesHook(TorchAgent):
    def act(self, obs, **kw):
        self.module.policy.register_forward_hook(lambda *a: None)
        return super().act(obs, **kw)


class TwoForwards(TorchAgent):
    def act(self, obs, **kw):
        self.logits(obs)  # e.g. a separate value pass through the same network
        return super().act(obs, **kw)


class NeverResets(TorchAgent):
    def act(self, obs, *, episode_start=None, **kw):
        return super().act(obs, **kw)  # drops episode_start: states carry over into new episodes


def test_sb3_agent_passes():
    agent = training.make_agent(ENV_ID)
    result = check_agent(agent, ENV_ID, layers=["features_extractor.fc", "mlp_extractor.policy_net", "value_net"])
    assert result.ok and result.failures == []
    assert names(result, True) == [c for c in CHECKS if c != "recurrent_state"]
    assert names(result, None) == ["recurrent_state"]
    assert count_hooks(agent) == 0


def test_torch_agents_pass_with_env_instance_and_constructor():
    result = check_agent(TorchAgent(SmallCNN()), make(ENV_ID), layers=["features.0", "body", "policy"])
    assert result.ok and names(result, None) == ["recurrent_state"]
    rec = check_agent(
        TorchAgent(CountingGRU(), recurrent=True), lambda: make(ENV_ID, shift=1.0), layers=["gru", "head"], n_steps=4
    )
    assert rec.ok and names(rec, True) == list(CHECKS)


def test_result_table_and_frame():
    result = check_agent(TorchAgent(SmallCNN()), ENV_ID, layers=["polcy"], raise_on_fail=False)
    assert not result.ok and [c.name for c in result.failures] == ["layers_resolve"]
    assert result["layers_fire"].passed is None  # nothing left to hook
    frame = result.to_frame()
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == ["check", "passed", "detail"]
    assert frame["check"].tolist() == list(CHECKS)
    assert frame.set_index("check").loc["layers_resolve", "passed"] == False  # noqa: E712
    text = str(result).splitlines()
    assert text[0] == "check_agent(agent): 1 failed"
    assert text[1].split() == ["check", "result", "detail"]
    starts = {line.index(status) for line in text[2:] for status in ("pass", "FAIL", "skip") if status in line[:32]}
    assert len(starts) == 1  # the result column is aligned


@pytest.mark.parametrize(
    ("agent", "layers", "check", "reason"),
    [
        (WrongShape(SmallCNN()), (), "acts_on_batch", "act returned shape (1,) for a batch of 3"),
        (TorchAgent(SmallCNN()), ["polcy"], "layers_resolve", "'polcy' is not a module (did you mean 'policy'?)"),
        (TwoForwards(SmallCNN()), ["body", "policy"], "layers_fire", "'body' fired 2 times in one act call"),
        (GlobalRandom(SmallCNN()), (), "deterministic_given_seed", "draw only from rng"),
        (LeavesHook(SmallCNN()), ["policy"], "no_hooks_left", "(on 'policy'); act must not leave hooks registered"),
        (NeverResets(CountingGRU(), recurrent=True), (), "recurrent_state", "state is not reset at episode starts"),
    ],
    ids=["wrong_shape", "layer_typo", "two_forwards", "global_rng", "leaves_hook", "never_resets"],
)
def test_each_broken_agent_fails_exactly_its_check(agent, layers, check, reason):
    result = check_agent(agent, ENV_ID, layers=layers, raise_on_fail=False)
    assert [c.name for c in result.failures] == [check], str(result)
    assert reason in result[check].detail
    with pytest.raises(AgentError) as err:
        check_agent(agent, ENV_ID, layers=layers)
    assert str(err.value).startswith(f"agent failed check_agent: {check}: ")
    assert reason in str(err.value)


def test_message_lists_every_failure():
    with pytest.raises(AgentError) as err:
        check_agent(WrongShape(SmallCNN()), ENV_ID, layers=["polcy"])
    assert str(err.value) == (
        "agent failed check_agent: acts_on_batch: act returned shape (1,) for a batch of 3; "
        "layers_resolve: 'polcy' is not a module (did you mean 'policy'?)"
    )


def test_hooks_present_before_are_reported():
    agent = TorchAgent(SmallCNN(), name="cnn")
    handle = agent.module.body.register_forward_hook(lambda *a: None)
    try:
        result = check_agent(agent, ENV_ID, raise_on_fail=False)
    finally:
        handle.remove()
    assert [c.name for c in result.failures] == ["no_hooks_left"]
    assert "1 hook was already registered before the check (on 'body')" in result["no_hooks_left"].detail
    assert result.message().startswith("cnn failed check_agent: no_hooks_left: ")


def test_act_that_raises_or_is_missing():
    class Raises(TorchAgent):
        def act(self, obs, **kw):
            raise RuntimeError("boom")

    result = check_agent(Raises(SmallCNN()), ENV_ID, raise_on_fail=False)
    assert [c.name for c in result.failures] == ["acts_on_batch"]
    assert "act raised RuntimeError: boom" in result["acts_on_batch"].detail
    assert result["steps_in_env"].passed is None and result["no_hooks_left"].passed

    class NoAct:
        def named_modules(self):
            return iter(())

    with pytest.raises(AgentError, match="has_act: NoAct has no callable act"):
        check_agent(NoAct(), ENV_ID)


def test_invalid_actions_and_bad_env():
    class OutOfRange(TorchAgent):
        def act(self, obs, **kw):
            return super().act(obs, **kw) + 4

    result = check_agent(OutOfRange(SmallCNN()), ENV_ID, raise_on_fail=False)
    assert "outside the action space" in result["acts_on_batch"].detail
    assert result["steps_in_env"].passed is False  # the environment rejects the action too
    with pytest.raises(UnknownNameError, match="Did you mean 'mesaprobe/CoinCorridor-v0'"):
        check_agent(TorchAgent(SmallCNN()), "mesaprobe/CoinCoridor-v0")
