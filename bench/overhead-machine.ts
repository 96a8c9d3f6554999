/**
 * What the whole machine did while bench/overhead.ts loaded one target: the CPU time of the
 * processes every target needs (the stub provider, PostgreSQL when it runs on this machine, the
 * load generator, which is the bench process itself) and how much of the machine sat idle. From
 * these the bench works out how far the gateway is from its target and whether the machine could
 * carry it at all. Linux only (/proc); elsewhere the figures are left out with a note.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

export interface MachineSample {
  /** Sum of /proc/stat's CPU ticks (all CPUs) and the idle + iowait part of them. */
  ticks: number;
  idleTicks: number;
  /** CPU time (µs) of the local PostgreSQL server's processes, summed; 0 when it is not local. */
  postgresMicros: number;
  /** This process's CPU time (µs): the load generator. */
  generatorMicros: number;
}

export interface MachineUse {
  /** Share of the machine's CPU time nobody used, 0..1. */
  idle: number;
  /** µs of CPU per answered request. */
  postgresUs: number;
  generatorUs: number;
}

const CPUS = availableParallelism();

let clockTicks: number | null | undefined;
/** µs per /proc tick (USER_HZ, almost always 100), or null when /proc cannot be read. */
function microsPerTick(): number | null {
  if (clockTicks === undefined) {
    try {
      readFileSync('/proc/stat');
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = null;
    }
  }
  return clockTicks === null ? null : 1e6 / clockTicks;
}

function processMicros(pid: number, perTick: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * perTick;
  } catch {
    return 0; // a backend that ended between listing and reading
  }
}

function postgresPids(): number[] {
  try {
    return execFileSync('pgrep', ['-x', 'postgres'], { encoding: 'utf8' }).trim().split('\n').map(Number).filter(Boolean);
  } catch {
    return [];
  }
}

/** Reads the machine now; null off Linux. `localPostgres`: the database server runs on this machine. */
export function sampleMachine(localPostgres: boolean): MachineSample | null {
  const perTick = microsPerTick();
  if (perTick === null) return null;
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const own = process.cpuUsage();
  return {
    ticks: cpu.reduce((a, b) => a + b, 0),
    idleTicks: cpu[3]! + (cpu[4] ?? 0),
    // Backends come and go with connections: a pool's stay for the whole run, so the sum is fair.
    postgresMicros: localPostgres ? postgresPids().reduce((sum, pid) => sum + processMicros(pid, perTick), 0) : 0,
    generatorMicros: own.user + own.system,
  };
}

export function machineUse(before: MachineSample | null, after: MachineSample | null, requests: number): MachineUse | null {
  if (!before || !after || after.ticks <= before.ticks) return null;
  const n = Math.max(1, requests);
  return {
    idle: (after.idleTicks - before.idleTicks) / (after.ticks - before.ticks),
    postgresUs: Math.max(0, after.postgresMicros - before.postgresMicros) / n,
    generatorUs: (after.generatorMicros - before.generatorMicros) / n,
  };
}

/** True when `url`'s host is this machine (its PostgreSQL processes are then counted). */
export function isLocalHost(url: string): boolean {
  const host = new URL(url).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || host === '[::1]' || host === '';
}

export interface Ceiling {
  cpus: number;
  /** µs of the gateway's CPU per lookup at which one event loop would reach half the bare proxy's rate. */
  oneLoopBudgetUs: number;
  /** Lookups/s the machine could carry if every CPU did only this work, the gateway spread over all of them. */
  machineLimit: number;
  /** The gateway's CPU per lookup at which that limit would be half the bare proxy's rate (≤ 0: not on this machine). */
  machineBudgetUs: number;
}

/**
 * How far the target is, in CPU per lookup. `companionsUs` is what every lookup costs the rest of the
 * machine (stub, PostgreSQL, load generator) at the gateway's rate.
 */
export function ceiling(bareRps: number, gatewayUs: number, companionsUs: number): Ceiling {
  const machineMicros = CPUS * 1e6;
  return {
    cpus: CPUS,
    oneLoopBudgetUs: 1e6 / (0.5 * bareRps),
    machineLimit: machineMicros / (gatewayUs + companionsUs),
    machineBudgetUs: machineMicros / (0.5 * bareRps) - companionsUs,
  };
}
