"""Where the time of a fig4k trial goes, and the paper-scale grid's wall time on this machine.

    python -m experiments.dqn.benchmark [--config experiments/dqn/fig4k.yaml] [--episodes 4]
                                        [--updates 5] [--cores 2] [--device cpu|cuda] [--envs NAME ...]
                                        [--fused]

For every trial of the YAML (one per environment and rule, 18 members) built exactly as a run builds
it, on one thread: the cost of one environment step of the packed trial with every member acting (the
packed forward pass, the bookkeeping and the members' environments), over `episodes` episodes in
which the environments ignore termination, so that every member plays to the step limit; and the
cost of one episode's learning (its 10 TD updates with their targets) on a buffer past
`learning_starts`. An episode costs (longest member's episode) x (step cost) + (learning cost). The
grid estimate charges every episode the environment's step limit (the longest member nearly always
reaches it: a member that has not learned Acrobot or MountainCar, or one that balances the pole;
untrained CartPole episodes are shorter) and packs the trials longest first on `cores` workers. It
also times one step of the members' environments as a list (what the task uses) against gymnasium's
vector environments.
"""
import argparse
import time
import warnings

import gymnasium as gym
import numpy as np
import torch

import engine
from loader import load_experiment


def env_step_costs(name, members, steps=2000):
    """Microseconds per step of `members` environments: a list, SyncVectorEnv, and the native vector
    environment where gymnasium has one."""
    out = {}
    envs = [gym.make(name) for _ in range(members)]
    for m, env in enumerate(envs):
        env.reset(seed=m)
    n = envs[0].action_space.n
    start = time.perf_counter()
    for k in range(steps):
        for env in envs:
            if any(env.step(k % n)[2:4]):
                env.reset()
    out["list"] = (time.perf_counter() - start) / steps * 1e6
    vector_modes = ["sync"] + (["vector_entry_point"] if gym.spec(name).vector_entry_point else [])
    for mode in vector_modes:
        vector = gym.make_vec(name, num_envs=members, vectorization_mode=mode)
        vector.reset(seed=list(range(members)) if mode == "sync" else 0)
        actions = np.zeros(members, dtype=np.int64)
        start = time.perf_counter()
        for k in range(steps):
            actions[:] = k % n
            vector.step(actions)
        out[mode] = (time.perf_counter() - start) / steps * 1e6
        vector.close()
    return out


class IgnoreTermination(gym.Wrapper):
    """For timing: the episode runs on to the time limit (truncation) whatever happens."""

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, False, truncated, info


def step_cost(training, episodes):
    """Seconds per environment step of the trial, every member acting to the step limit."""
    learner, task = training.learner, training.task
    task.envs.envs = [IgnoreTermination(env) for env in task.envs.envs]
    total_steps, elapsed = 0, 0.0
    with warnings.catch_warnings():      # gymnasium warns about stepping past termination
        warnings.simplefilter("ignore")
        for episode in range(episodes):
            learner.begin()
            start = time.perf_counter()
            lengths, _ = task.play_episodes(0.08, learner)
            elapsed += time.perf_counter() - start
            total_steps += lengths.max()
    return elapsed / total_steps


def learning_cost(training, repeats):
    """Seconds of one episode's learning (updates_per_episode TD steps of every member)."""
    task, learner = training.task, training.learner
    members, cfg = len(task.envs.failed), task.cfg
    staged = cfg["learning_starts"] + cfg["batch_size"] + 1
    task.staging = type(task.staging)(members, task.norm.mean.shape[1], staged)
    task.staging.s[:] = np.random.default_rng(0).normal(size=task.staging.s.shape)
    task.staging.s_next[:] = task.staging.s
    task.buffer.store(task.staging, np.full(members, staged))
    task.learn(learner)                                          # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        task.learn(learner)
    return (time.perf_counter() - start) / repeats


def schedule(durations, cores):
    """Wall time of independent jobs run longest first on `cores` workers."""
    workers = [0.0] * cores
    for d in sorted(durations, reverse=True):
        workers[workers.index(min(workers))] += d
    return max(workers)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="experiments/dqn/fig4k.yaml")
    parser.add_argument("--episodes", type=int, default=4, help="episodes timed per trial (to the step limit)")
    parser.add_argument("--updates", type=int, default=5, help="episodes' learning timed per trial")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="the trials' device (cpu, cuda)")
    parser.add_argument("--envs", nargs="*", help="only these environments' trials")
    parser.add_argument("--fused", action="store_true", help="PC's inference loop compiled (pc.fused, fused.py)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    experiment = load_experiment(args.config)
    iterations = experiment.doc["stop"]["training_iteration"]
    durations = []
    for trial in experiment.trials:
        members = [{**member, "device": args.device, "pc": {**member["pc"], "fused": args.fused}}
                   for member in trial["members"]]
        name, rule = members[0]["data"]["env"], members[0]["rule"]
        if args.envs and name not in args.envs:
            continue
        training = engine.PackedTraining.build(members)
        per_step = step_cost(training, args.episodes)
        learn = learning_cost(training, args.updates)
        limit = gym.spec(name).max_episode_steps
        episode = limit * per_step + learn
        durations.append(episode * iterations)
        print(f"{name:15s} {rule} M={len(members)}: step {per_step * 1e6:5.0f} us; learning {learn * 1e3:5.1f} "
              f"ms/episode; an episode at the {limit}-step limit {episode * 1e3:5.0f} ms; {iterations} "
              f"episodes {episode * iterations / 3600:5.2f} h", flush=True)
    print(f"grid: {sum(durations) / 3600:.2f} CPU-hours; on {args.cores} cores (trials longest first) "
          f"{schedule(durations, args.cores) / 3600:.2f} h")
    for name in sorted({t["members"][0]["data"]["env"] for t in experiment.trials} & set(args.envs or gym.registry)):
        costs = env_step_costs(name, len(experiment.trials[0]["members"]))
        print(f"{name:15s} one step of {len(experiment.trials[0]['members'])} environments: "
              + ", ".join(f"{mode} {us:5.0f} us" for mode, us in costs.items()))


if __name__ == "__main__":
    main()
