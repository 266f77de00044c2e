/** What a benchmark run measures: the two profiles and the list of measurements each implies. */
import type { BurnDownCase, CaseRecord, LatencyCase } from './results.ts';
import type { SystemUnderTest } from './systems/system.ts';
import { burnDown } from './workloads/burn-down.ts';
import { lightLatency } from './workloads/light-latency.ts';

export interface Profile {
  reps: number;
  latency: { warmup: number; runs: number; slots: number; runTimeoutMs: number };
  burnDown: { tasks: number; chunk: number; slots: number[]; pollIntervalMs: number; drainTimeoutMs: number; chunkTimeoutMs: number };
}

export const PROFILES: Record<'quick' | 'full', Profile> = {
  quick: {
    reps: 1,
    latency: { warmup: 50, runs: 300, slots: 100, runTimeoutMs: 10_000 },
    burnDown: { tasks: 10_000, chunk: 5_000, slots: [100], pollIntervalMs: 20, drainTimeoutMs: 60_000, chunkTimeoutMs: 60_000 },
  },
  full: {
    reps: 3,
    latency: { warmup: 200, runs: 2_000, slots: 100, runTimeoutMs: 10_000 },
    burnDown: { tasks: 50_000, chunk: 5_000, slots: [100, 10], pollIntervalMs: 20, drainTimeoutMs: 300_000, chunkTimeoutMs: 60_000 },
  },
};

/** One workload with its parameters; each repetition runs it against a freshly set-up system. */
export interface Measurement {
  /** The empty record its repetitions are added to, for one system. */
  record(system: string): CaseRecord;
  /** Runs one repetition, adds it to `record`, and returns a one-line summary for the progress output. */
  run(sut: SystemUnderTest, record: CaseRecord, rep: number): Promise<string>;
}

export function measurements(profile: Profile): Measurement[] {
  return [lightLatencyMeasurement(profile.latency), ...profile.burnDown.slots.map((slots) => burnDownMeasurement({ ...profile.burnDown, slots }))];
}

function lightLatencyMeasurement(options: Profile['latency']): Measurement {
  return {
    record: (system): LatencyCase => ({ workload: 'light-latency', system, variant: `${options.runs} runs after ${options.warmup} warm-up, slots ${options.slots}`, reps: [], summary: null }),
    run: async (sut, record, rep) => {
      if (record.workload !== 'light-latency') throw new Error(`light-latency measurement given a ${record.workload} record`);
      const result = await lightLatency(sut, options);
      record.reps.push({ rep, result, error: null });
      const s = result.enqueueToStartMs;
      const d = result.enqueueToDoneMs;
      const anomalies = result.clockAnomalies > 0 ? `  WARNING: ${result.clockAnomalies} cross-process clock anomalies` : '';
      return `start p50 ${s.p50} p99 ${s.p99} ms · done p50 ${d.p50} p99 ${d.p99} ms${anomalies}`;
    },
  };
}

function burnDownMeasurement(options: Omit<Profile['burnDown'], 'slots'> & { slots: number }): Measurement {
  const count = (n: number) => n.toLocaleString('en-US');
  return {
    record: (system): BurnDownCase => ({ workload: 'burn-down', system, variant: `${count(options.tasks)} tasks, slots ${options.slots}`, reps: [], summary: null }),
    run: async (sut, record, rep) => {
      if (record.workload !== 'burn-down') throw new Error(`burn-down measurement given a ${record.workload} record`);
      const result = await burnDown(sut, options);
      record.reps.push({ rep, result, error: null });
      const window = Math.round(result.durationMs - result.durationLowerBoundMs);
      const polls = `${result.polls} poll${result.polls === 1 ? '' : 's'}`;
      return `${count(result.tasksPerSecond)} tasks/s (drained in ${(result.durationMs / 1000).toFixed(2)} s, end within the last ${window} ms, ${polls}; preload ${count(result.preloadTasksPerSecond)} tasks/s)`;
    },
  };
}
