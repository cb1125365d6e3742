"""Deep Q-learning (Fig. 4k): the normaliser, exploration and TD targets against independent oracles,
the staged transitions of a scripted environment, packing and failure isolation through the engine,
and the quick profile end to end (both rules beat a random policy on CartPole)."""
import math

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch

import engine
from experiments.dqn import figures
from experiments.dqn.replay import ReplayBuffer, Staging
from experiments.dqn.state import RunningNorm, Uniforms
from experiments.dqn.task import DeepQLearning, epsilon, td_targets
from schema import SupervisedConfig
from test_reversal import train
from utils import derive_seed

TASK = "experiments.dqn.task:DeepQLearning"


def task_config(**changes):
    """The task's validated data keys (its defaults, as a YAML's `data` section would give them)."""
    return DeepQLearning.Config.model_validate(changes).model_dump()


def member(rule="bp", seed=0, lr=0.001, env="CartPole-v1", **data):
    obs, actions = DeepQLearning.dims({"env": env})
    config = {"rule": rule, "seed": seed, "data": {"name": TASK, "env": env, **data},
              "model": {"sizes": [obs, 16, 16, actions], "activation": "sigmoid", "bias": True,
                        "init": {"name": "torch_default"}},
              "pc": {"T": 8, "inference_lr": 0.05, "x_lr_discount": 1.0}, "optimizer": {"lr": lr},
              "device": "cpu", "dtype": "float64"}
    return SupervisedConfig.model_validate(config).model_dump()


# Small enough that a few episodes fill the buffer past its capacity and learn from it.
SMALL = {"learning_starts": 30, "batch_size": 8, "buffer_size": 64, "updates_per_episode": 3}


# ---------------------------------------------------------------------------------------------
# Normalisation, exploration, targets
# ---------------------------------------------------------------------------------------------
def test_running_normalisation_equals_numpy_mean_and_population_std_of_each_members_observations():
    rng = np.random.default_rng(0)
    members, dims, steps = 4, 3, 60
    x = rng.normal(2.0, 3.0, (steps, members, dims))
    x[:, :, 2] = 1.5                                       # a constant dimension: std 0
    rows = rng.random((steps, members)) < 0.7              # members update at different steps
    norm, seen = RunningNorm(members, dims), [[] for _ in range(members)]
    for k in range(steps):
        norm.update(x[k], rows[k])
        for m in np.flatnonzero(rows[k]):
            seen[m].append(x[k, m])
        probe = rng.normal(size=(members, dims))
        out = norm(probe)
        for m in range(members):
            if not seen[m]:
                np.testing.assert_array_equal(out[m], probe[m])     # no statistics yet: unchanged
                continue
            mean, std = np.mean(seen[m], 0), np.std(seen[m], 0)
            np.testing.assert_allclose(norm.mean[m], mean, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(norm.std[m], std, rtol=1e-9, atol=1e-12)
            expected = np.where(std > 1e-9, (probe[m] - mean) / np.where(std > 1e-9, std, 1), probe[m] - mean)
            np.testing.assert_allclose(out[m], expected, rtol=1e-9, atol=1e-9)


def test_epsilon_falls_by_0_01_per_200_episodes_from_0_08_to_a_floor_of_0_01():
    cfg = task_config()
    assert [epsilon(cfg, e) for e in (0, 200, 1000, 1400, 10_000)] == pytest.approx([0.08, 0.07, 0.03, 0.01, 0.01])
    assert epsilon(cfg, 100) == pytest.approx(0.075)


class ConstantQ:
    """A stand-in learner whose Q values are all 0, so the greedy action is always 0."""

    def __init__(self, actions):
        self.actions = actions

    def predict(self, s):
        return torch.zeros(*s.shape[:-1], self.actions, dtype=s.dtype)


def test_exploration_takes_a_random_action_with_probability_epsilon():
    cfg = task_config(epsilon_start=0.3, epsilon_decay=0.0)
    task = DeepQLearning(cfg, [0], "cpu", torch.float64)
    actions = []
    for episode in range(60):
        lengths, _ = task.play_episodes(epsilon(cfg, episode), ConstantQ(2))
        actions.append(task.staging.action[0, :lengths[0]].copy())
    actions = np.concatenate(actions)
    # greedy is action 0; a random action is 1 half the time: P(action 1) = eps / 2
    assert abs(actions.mean() - 0.15) < 4 * math.sqrt(0.15 * 0.85 / len(actions))


def test_the_td_target_is_r_plus_gamma_max_q_and_done_cuts_the_bootstrap():
    q_next = torch.tensor([[[1.0, 3.0], [2.0, -1.0], [5.0, 4.0]]])
    reward = torch.tensor([[0.5, 1.0, -1.0]])
    done = torch.tensor([[0.0, 0.0, 1.0]])
    assert td_targets(q_next, reward, done, 0.98)[0].tolist() == pytest.approx([0.5 + 0.98 * 3, 1.0 + 0.98 * 2, -1.0])


def test_uniform_draws_of_a_member_do_not_depend_on_the_others():
    alone = Uniforms([np.random.default_rng(7)], block=5)
    packed = Uniforms([np.random.default_rng(1), np.random.default_rng(7)], block=5)
    rng = np.random.default_rng(0)
    for _ in range(23):                                    # past several refills
        a = alone.draw(np.array([True]))
        b = packed.draw(np.array([rng.random() < 0.5, True]))
        np.testing.assert_array_equal(a[0], b[1])
    fresh = Uniforms([np.random.default_rng(7)], block=5)
    drawn = [fresh.draw(np.array([True]))[0] for _ in range(23)]
    np.testing.assert_array_equal(drawn, np.random.default_rng(7).random((23, 2)))   # blocks = one stream


# ---------------------------------------------------------------------------------------------
# A scripted environment: the staged transitions, the replay buffer, the learning calls
# ---------------------------------------------------------------------------------------------
class ScriptedEnv:
    """Observation k of an episode is (k, 2k + episode, 1, -k) (the third constant: std 0); reward k;
    the episode ends after `n` steps, terminated or truncated."""

    def __init__(self, n, truncate=False):
        self.n, self.truncate = n, truncate
        self.episode, self.k, self.steps = -1, 0, 0

    def obs(self):
        k = self.k
        return np.array([k, 2 * k + self.episode, 1.0, -k], dtype=np.float32)

    def reset(self, seed=None):
        self.episode, self.k = self.episode + 1, 0
        return self.obs(), {}

    def step(self, action):
        self.steps += 1
        self.k += 1
        end = self.k == self.n
        return self.obs(), float(self.k), end and not self.truncate, end and self.truncate, {}


class LinearQ:
    """A stand-in learner: Q(s) = (1 + n) s P with a fixed P, where n counts the learning steps taken
    (so a target computed after a step would differ); records what learn() was given."""

    def __init__(self, actions=2, dims=4):
        self.P = torch.zeros(dims, actions, dtype=torch.float64)
        self.P[:, 0] = torch.arange(1.0, dims + 1)
        self.P[:, -1] = -torch.arange(1.0, dims + 1) / 2
        self.calls = []

    def predict(self, s):
        return (1 + len(self.calls)) * s @ self.P

    def learn(self, s, t, mask=None, trace=None):
        self.calls.append((s.clone(), t.clone(), mask.clone()))
        return torch.zeros(s.shape[0])


def scripted_task(members=2, n=5, truncate=False, **changes):
    task = DeepQLearning(task_config(**changes), list(range(members)), "cpu", torch.float64)
    task.envs.envs = [ScriptedEnv(n, truncate) for _ in range(members)]
    return task


@pytest.mark.parametrize("truncate,bootstrap_truncated", [(False, False), (True, False), (True, True)])
def test_transitions_keep_the_normalisation_of_the_moment_they_were_stored(truncate, bootstrap_truncated):
    n = 5
    task = scripted_task(n=n, truncate=truncate, bootstrap_truncated=bootstrap_truncated, epsilon_start=0.0)
    learner = ConstantQ(2)
    seen = []
    for episode in range(3):
        lengths, returns = task.play_episodes(0.0, learner)
        assert lengths.tolist() == [n, n] and returns.tolist() == [n * (n + 1) / 2] * 2
        obs = [np.array([k, 2 * k + episode, 1.0, -k]) for k in range(n + 1)]
        for k in range(n):
            seen.append(obs[k])
            expected_s = normalised(obs[k], seen)
            terminal = k == n - 1
            # the next state, the terminal one too: with the statistics so far, which exclude it
            expected_next = normalised(obs[k + 1], seen)
            np.testing.assert_allclose(task.staging.s[:, k], [expected_s] * 2, atol=1e-12)
            np.testing.assert_allclose(task.staging.s_next[:, k], [expected_next] * 2, atol=1e-12)
            cut = terminal and not (truncate and bootstrap_truncated)
            assert task.staging.done[:, k].tolist() == [float(cut)] * 2
            assert task.staging.reward[:, k].tolist() == [k + 1.0] * 2
        seen.append(obs[n])                                 # then the terminal observation joins them


def normalised(x, seen):
    mean, std = np.mean(seen, 0), np.std(seen, 0)
    centred = x - mean
    return np.where(std > 0, centred / np.where(std > 0, std, 1), centred)


def test_members_whose_episode_ended_wait_and_take_no_steps():
    task = DeepQLearning(task_config(), [0, 1, 2], "cpu", torch.float64)
    task.envs.envs = [ScriptedEnv(n) for n in (3, 7, 5)]
    lengths, returns = task.play_episodes(0.0, ConstantQ(2))
    assert lengths.tolist() == [3, 7, 5] and returns.tolist() == [6.0, 28.0, 15.0]
    assert [env.steps for env in task.envs.envs] == [3, 7, 5]


def test_the_costliest_iteration_plays_every_member_to_the_step_limit_then_takes_every_update():
    """What --dry-run times (cost.py): each member steps the environment's step limit (500 on
    CartPole) whatever its episodes' lengths, restarting an ended one, then takes all its updates."""
    task = DeepQLearning(task_config(updates_per_episode=3, batch_size=4), [0, 1], "cpu", torch.float64)
    task.envs.envs = [ScriptedEnv(n) for n in (3, 1000)]
    learner = LinearQ()
    assert task.play_costliest(0, learner) == {}
    assert [env.steps for env in task.envs.envs] == [500, 500] and [env.episode for env in task.envs.envs] == [166, 0]
    assert len(learner.calls) == 3 and all(mask.sum(-1).eq(1).all() for _, _, mask in learner.calls)   # both learn
    assert task.buffer.size.tolist() == [500, 500]


def test_the_replay_buffer_keeps_the_newest_transitions_and_batches_draw_without_replacement():
    staging = Staging(2, 1, 6)
    buffer = ReplayBuffer(2, 8, 1, "cpu", torch.float64)
    stored = [[], []]
    for episode, lengths in enumerate(([6, 2], [5, 6], [1, 3])):
        for k in range(6):
            values = np.array([[100 * episode + k], [-100 * episode - k]], dtype=float)
            staging.put(k, np.array([True, True]), values, np.zeros(2, int), values[:, 0], values, np.zeros(2))
        buffer.store(staging, np.array(lengths))
        for m in range(2):
            stored[m] += [staging.s[m, k, 0] for k in range(lengths[m])]
    for m in range(2):
        assert buffer.size[m] == min(len(stored[m]), 8)
        assert sorted(buffer.reward[m, :buffer.size[m]].tolist()) == sorted(stored[m][-8:])
    gens = [np.random.default_rng(0), np.random.default_rng(1)]
    s, action, reward, s_next, done = buffer.sample(gens, np.array([True, False]), updates=4, batch=8)
    assert s.shape == (2, 4, 8, 1) and action.shape == (2, 4, 8)
    for u in range(4):
        assert sorted(reward[0, u].tolist()) == sorted(stored[0][-8:])      # 8 of 8: every one once
    assert (reward[1] == buffer.reward[1, 0]).all()                          # not sampled: slot 0


def test_learning_steps_target_the_taken_action_with_the_td_target_before_the_step():
    task = scripted_task(members=2, n=5, learning_starts=10, batch_size=5, updates_per_episode=4)
    task.envs.envs[1] = ScriptedEnv(2)               # member 1 fills its buffer later
    learner = LinearQ()
    task.play(0, learner)
    task.play(1, learner)
    assert learner.calls == []                       # 10 transitions: not more than learning_starts
    task.play(2, learner)
    assert len(learner.calls) == 4
    for step, (s, t, mask) in enumerate(learner.calls):
        assert mask[1].abs().sum() == 0              # member 1 (6 transitions) is masked out
        assert (mask[0].sum(-1) == 1).all()          # one-hot of the taken action
        for b in range(5):
            a = int(mask[0, b].argmax())
            assert t[0, b, 1 - a] == 0
            assert t[0, b, a] == pytest.approx(expected_target(task, learner, s[0, b], a, step), abs=1e-9)


def expected_target(task, learner, s, a, step):
    """r + 0.98 max Q(s') (1 - done) of the stored transition (s, a), with the network as it was
    before learning step `step` (LinearQ's scale 1 + step)."""
    match = ((task.buffer.s[0] - s).abs().sum(-1) < 1e-12) & (task.buffer.action[0] == a)
    slot = int(torch.nonzero(match)[0])
    q_next = ((1 + step) * task.buffer.s_next[0, slot] @ learner.P).max()
    return float(task.buffer.reward[0, slot] + 0.98 * q_next * (1 - task.buffer.done[0, slot]))


# ---------------------------------------------------------------------------------------------
# Through the engine: seeds, packing, failures
# ---------------------------------------------------------------------------------------------
def test_a_seed_is_the_same_environment_and_exploration_in_every_pack():
    a = DeepQLearning(task_config(), [5, 7], "cpu", torch.float64)
    b = DeepQLearning(task_config(gamma=0.9), [7, 5, 9], "cpu", torch.float32)
    np.testing.assert_array_equal(a.envs.reset()[1], b.envs.reset()[0])
    np.testing.assert_array_equal(a.explore.values[1], b.explore.values[0])
    first = gym.make("CartPole-v1").reset(seed=derive_seed(7, "env"))[0]
    np.testing.assert_array_equal(DeepQLearning(task_config(), [7], "cpu", torch.float64).envs.reset()[0], first)


@pytest.mark.parametrize("rule", ["pc", "bp"])
def test_packed_members_equal_members_run_alone(rule):
    members = [member(rule, seed, lr, **SMALL) for seed, lr in ((0, 0.05), (1, 0.01), (2, 0.05))]
    packed, run = train(members, 12)
    assert (run.task.buffer.size == 64).all() and packed["loss"].gt(0).any()   # wrapped, and learned
    for m, config in enumerate(members):
        alone, _ = train([config], 12)
        columns = [c for c in alone.columns if c != "member"]
        pd.testing.assert_frame_equal(packed[packed["member"] == m][columns].reset_index(drop=True),
                                      alone[columns].reset_index(drop=True), rtol=1e-10)


def test_a_run_continued_from_a_saved_state_equals_an_uninterrupted_one(monkeypatch):
    """The state after `stop` episodes, through torch.save and a weights-only load as a checkpoint
    travels: by then the buffers have wrapped and the exploration streams have refilled their blocks."""
    from test_checkpoints import train as train_with_states, travelled
    monkeypatch.setattr(Uniforms.__init__, "__defaults__", (2, 50))         # blocks of 50 draws
    members = [member("pc", seed, 0.05, **SMALL) for seed in (0, 1)]
    iterations, stop = 16, 11
    whole, states = train_with_states(members, iterations, every_s=0)
    before = whole[whole["iteration"] < stop]
    assert before.groupby("member")["episode_length"].sum().min() > 2 * 50   # refilled, twice
    assert before["loss"].gt(0).any()                                       # learned from the buffer
    rest, _ = train_with_states(members, iterations, start=travelled(states[stop]))
    assert rest.equals(whole[whole["iteration"] >= stop].reset_index(drop=True))


class Failing(gym.Wrapper):
    """A member's environment that raises at its `at`-th step."""

    def __init__(self, env, at):
        super().__init__(env)
        self.at, self.steps = at, 0

    def step(self, action):
        self.steps += 1
        if self.steps == self.at:
            raise RuntimeError("the simulator crashed")
        return self.env.step(action)


def test_an_environment_error_stops_only_its_member():
    members = [member("bp", seed, 0.01, **SMALL) for seed in range(3)]
    clean, _ = train(members, 8)
    training = engine.PackedTraining.build(members)
    training.task.envs.envs[1] = Failing(training.task.envs.envs[1], at=25)
    columns = []
    with pytest.warns(RuntimeWarning, match="member 1's environment failed"):
        for iteration in range(8):
            out, finite = training.iterate(iteration)
            columns.append({k: v.tolist() for k, v in out.items()})
            assert finite.all()
    failed = np.array([c["env_failed"] for c in columns])
    first = int(np.argmax(failed[:, 1]))
    assert 0 < first < 8 and failed[first:, 1].all() and not failed[:, [0, 2]].any()
    returns = np.array([c["episode_return"] for c in columns])
    assert np.isnan(returns[first:, 1]).all() and np.isfinite(returns[:, [0, 2]]).all()
    for m in (0, 2):                                 # the others: exactly as without the failure
        expected = clean[clean["member"] == m].sort_values("iteration")["episode_return"].to_numpy()
        np.testing.assert_array_equal(returns[:, m], expected)


def test_a_diverged_member_stops_acting_and_the_others_go_on_as_before():
    """engine.train zeroes a diverged member's weights and calls task.drop: its environment is not
    stepped any more (length 0), the other members' episodes are exactly those of a clean run."""
    members = [member("bp", seed, 0.01, **SMALL) for seed in range(3)]
    clean, _ = train(members, 6)
    training = engine.PackedTraining.build(members)
    lengths = []
    for iteration in range(6):
        if iteration == 2:
            training.silence(torch.tensor([False, True, False]))
        out, _ = training.iterate(iteration)
        lengths.append(out["episode_length"].tolist())
    lengths = np.array(lengths)
    assert (lengths[:2, 1] > 0).all() and (lengths[2:, 1] == 0).all()
    for m in (0, 2):
        expected = clean[clean["member"] == m].sort_values("iteration")["episode_length"].to_numpy()
        np.testing.assert_array_equal(lengths[:, m], expected)


def test_config_checks():
    with pytest.raises(ValueError, match="not a gymnasium environment"):
        task_config(env="NoSuchEnv-v0")
    with pytest.raises(ValueError, match="Discrete action space"):
        task_config(env="MountainCarContinuous-v0")
    assert DeepQLearning.dims(task_config(env="Acrobot-v1")) == (6, 3)
    assert DeepQLearning.dims(task_config(env="MountainCar-v0")) == (2, 3)


# ---------------------------------------------------------------------------------------------
# The figure
# ---------------------------------------------------------------------------------------------
def synthetic_rows(episodes=300):
    """Rows of two envs x two rules x three lrs x two seeds with known returns: lr 0.01 is best for
    PC, 0.001 for BP (whose lr 0.01 has a diverged member)."""
    rows = []
    for env in ("CartPole-v1", "Acrobot-v1"):
        for rule in ("pc", "bp"):
            for lr in (0.001, 0.01, 0.1):
                for seed in (0, 1):
                    level = {("pc", 0.01): 300, ("bp", 0.01): 400, ("bp", 0.001): 200}.get((rule, lr), 50)
                    for i in range(episodes):
                        diverged = rule == "bp" and lr == 0.01 and seed == 1 and i > 100
                        rows.append({"rule": rule, "data.env": env, "optimizer.lr": lr, "seed": seed,
                                     "iteration": i, "episode_return": math.nan if diverged else level + seed,
                                     "diverged": diverged, "env_failed": 0.0})
    return pd.DataFrame(rows)


def test_the_figure_picks_the_best_stable_lr_and_plots_the_running_mean():
    df = synthetic_rows()
    best, chosen, table = figures.best_lr_rows(df)
    assert chosen[("pc", "CartPole-v1")] == 0.01 and chosen[("bp", "CartPole-v1")] == 0.001
    row = table[(table["rule"] == "bp") & (table["optimizer.lr"] == 0.01)].iloc[0]
    assert row["unstable"]
    # the running mean of a constant return is that constant; of a ramp, the mean of its last 200
    ramp = pd.DataFrame({"rule": "pc", "data.env": "CartPole-v1", "optimizer.lr": 0.01, "seed": 0,
                         "iteration": range(400), "episode_return": np.arange(400.0), "diverged": False})
    reward = figures.with_reward(ramp)["reward"].to_numpy()
    assert reward[0] == 0 and reward[99] == pytest.approx(49.5) and reward[399] == pytest.approx(299.5)
    panels = figures.fig4k(df)
    assert [p.name for p in panels] == ["fig4k", "fig4k_lrs"]
    source = panels[0].source_data
    assert set(source["episode"]) == set(range(0, 300, 3))                    # 1 point in 100
    pc_late = [c for c in panels[0].comparisons if c.quantity == "CartPole-v1 PC late reward (last 10% of episodes)"]
    assert pc_late[0].ours == pytest.approx(300.5) and pc_late[0].paper == "≈400–430"
    gap = [c for c in panels[0].comparisons if c.quantity == "Acrobot-v1 PC - BP late reward"]
    assert gap[0].ours == pytest.approx(100.0)


def constant_runs(returns, episodes=300, rule="pc", env="CartPole-v1"):
    """Rows of one (rule, env, lr): seed k returns returns[k] in every episode (its running mean too)."""
    return pd.DataFrame([{"rule": rule, "data.env": env, "optimizer.lr": 0.01, "seed": k, "iteration": i,
                          "episode_return": r, "diverged": False, "env_failed": 0.0}
                         for k, r in enumerate(returns) for i in range(episodes)])


def test_the_curves_band_is_the_68_percent_bootstrap_interval_of_the_seed_mean():
    # The bootstrap distribution of a mean of n values has sd = population sd / sqrt(n) (~normal for
    # n = 12): its 68% interval is mean +- 0.99 of that, a 95% one mean +- 1.96 of it.
    returns = np.array([3.0, 7.5, 1.0, 9.0, 4.0, 6.5, 2.0, 8.0, 5.5, 4.5, 7.0, 3.5])
    figure = figures.curves(constant_runs(returns))[0].figure
    band = figure.axes[0].collections[0].get_paths()[0].vertices[:, 1]
    sem = returns.std() / math.sqrt(len(returns))
    lower, upper = (returns.mean() - band.min()) / sem, (band.max() - returns.mean()) / sem
    assert 0.85 < lower < 1.15 and 0.85 < upper < 1.15, (lower, upper)


def test_early_training_is_compared_at_the_published_episodes_and_the_first_to_reach_100():
    ramp = constant_runs([0.0], episodes=1600)
    ramp["episode_return"] = ramp["iteration"].astype(float)      # running mean: e/2, then e - 99.5
    flat = constant_runs([50.0], episodes=1600, rule="bp")
    numbers = {c.quantity: c.ours for c in figures.curves(pd.concat([ramp, flat]))[0].comparisons}
    assert numbers["CartPole-v1 PC reward at episode 500"] == pytest.approx(400.5)
    assert numbers["CartPole-v1 PC reward at episode 1500"] == pytest.approx(1400.5)
    assert numbers["CartPole-v1 PC first episode with reward >= 100"] == 200   # 199 - 99.5 < 100
    assert numbers["CartPole-v1 BP reward at episode 1000"] == pytest.approx(50.0)
    assert math.isnan(numbers["CartPole-v1 BP first episode with reward >= 100"])


# ---------------------------------------------------------------------------------------------
# The quick profile end to end
# ---------------------------------------------------------------------------------------------
def random_policy_return(env, seeds, episodes):
    """Mean return of a uniformly random policy, from the members' first-reset seeds."""
    returns, rng = [], np.random.default_rng(0)
    for seed in seeds:
        environment = gym.make(env)
        environment.reset(seed=derive_seed(seed, "env"))
        for _ in range(episodes):
            total, done = 0.0, False
            while not done:
                _, r, terminated, truncated, _ = environment.step(int(rng.integers(environment.action_space.n)))
                total, done = total + r, terminated or truncated
            returns.append(total)
            environment.reset()
    return float(np.mean(returns))


@pytest.mark.slow
def test_quick_profile_both_rules_beat_a_random_policy_on_cartpole(tmp_path, monkeypatch):
    import results
    from quick import assert_quick_claims, run_quick
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    rows = results.load_rows(run_quick("dqn/fig4k", tmp_path / "out"))
    assert (tmp_path / "out" / "fig4k-quick.png").exists()
    assert (tmp_path / "out" / "source_data" / "fig4k-quick.csv").exists()
    assert assert_quick_claims("dqn/fig4k", rows) == 1      # BP ahead early, as in the published curves
    best, chosen, _ = figures.best_lr_rows(rows)
    baseline = random_policy_return("CartPole-v1", sorted(set(rows["seed"])), 50)
    assert 15 < baseline < 30
    episodes = rows["iteration"].max() + 1
    for rule in ("pc", "bp"):
        late = best[(best["rule"] == rule) & (best["iteration"] >= episodes - 50)]
        early = best[(best["rule"] == rule) & (best["iteration"] < 50)]
        assert late["episode_return"].mean() > 2 * baseline, (rule, chosen)
        assert late["episode_return"].mean() > early["episode_return"].mean() + 20, (rule, chosen)   # it learned
    # The plotted reward is each run's mean of its last <= 200 returns, recomputed here episode by episode.
    source = pd.read_csv(tmp_path / "out" / "source_data" / "fig4k-quick.csv")
    for (rule, lr, seed), points in source.groupby(["rule", "lr", "seed"]):
        run = rows[(rows["rule"] == rule) & (rows["optimizer.lr"] == lr) & (rows["seed"] == seed)]
        returns = run.sort_values("iteration")["episode_return"].to_numpy()
        assert chosen[rule, "CartPole-v1"] == lr
        for episode, reward in zip(points["episode"], points["reward"]):
            assert reward == pytest.approx(returns[max(0, episode - 199):episode + 1].mean(), rel=1e-12)
