/**
 * `meerkat mob …`: the command-line client of the mob sidecar's `meerkat.mob.v1.MobService`
 * (README "Sidecar and mobs"). Same conventions as the kernel commands: `--json` prints proto3
 * JSON, `--timeout` bounds each call, errors print as `CODE REASON: message` with exit code 1
 * (2 usage, 3 awaited work did not complete, 130 interrupted).
 *
 *   meerkat mob create team.json                      CreateMob (file, `-` for stdin, or inline JSON)
 *   meerkat mob spawn team alice --profile worker     SpawnMember (--ensure: EnsureMember)
 *   meerkat mob wait-ready team [alice …]             WaitReady
 *   meerkat mob wire|unwire team alice bob            WireMembers / UnwireMembers
 *   meerkat mob send team alice "hi" --wait           SubmitWork
 *   meerkat mob message team alice bob "hello"        SendPeerMessage
 *   meerkat mob retire|respawn team alice             RetireMember / RespawnMember
 *   meerkat mob lifecycle team stop|resume|complete|reset|destroy
 *   meerkat mob status|members|member …              GetStatus / ListMembers / GetMember
 *   meerkat mob events team [--after N] [--follow]    ListEvents / FollowEvents
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  CreateMobResponse,
  FollowEventsResponse,
  GetMemberResponse,
  GetStatusResponse,
  LifecycleAction,
  LifecycleResponse,
  ListEventsResponse,
  ListMembersResponse,
  MemberStatus,
  MobDefinition,
  MobPhase,
  MobServiceService,
  RespawnMemberResponse,
  RetireMemberResponse,
  SendPeerMessageResponse,
  SpawnMemberResponse,
  StartupStage,
  SubmitWorkResponse,
  UnwireMembersResponse,
  WaitReadyResponse,
  WireMembersResponse,
  WorkOrigin,
  type Member,
  type MobEvent,
} from '../gen/meerkat/mob/v1/mob.js';
import { describeCompletion, isSuccessfulCompletion } from './format.js';
import { CliFailure, KernelConnection, consume, describeError, formatError, type Method } from './rpc.js';

export const DEFAULT_SIDECAR_ADDRESS = '127.0.0.1:50052';
const DEFAULT_UNARY_TIMEOUT_MS = 30_000;

interface MobGlobals {
  readonly sidecar: string;
  readonly json?: boolean;
  readonly timeout?: number;
}

class MobCtx {
  readonly conn: KernelConnection;
  readonly json: boolean;
  private readonly timeoutMs: number | undefined;

  constructor(o: MobGlobals) {
    this.conn = new KernelConnection(o.sidecar);
    this.json = o.json === true;
    this.timeoutMs = o.timeout;
  }

  unary<Req, Res>(method: Method<Req, Res>, request: Req, waits = false): Promise<Res> {
    const deadline = this.timeoutMs !== undefined ? Date.now() + this.timeoutMs : waits ? undefined : Date.now() + DEFAULT_UNARY_TIMEOUT_MS;
    return this.conn.unary(method, request, { deadline });
  }

  stream<Req, Res>(method: Method<Req, Res>, request: Req) {
    return this.conn.serverStream(method, request, { deadline: this.timeoutMs === undefined ? undefined : Date.now() + this.timeoutMs });
  }

  out(line: string): void {
    process.stdout.write(`${line}\n`);
  }

  emit<T>(type: { toJSON(m: T): unknown }, message: T, human: () => string): void {
    this.out(this.json ? JSON.stringify(type.toJSON(message)) : human());
  }
}

async function run(cmd: Command, action: (ctx: MobCtx) => Promise<number | void>): Promise<void> {
  const ctx = new MobCtx(cmd.optsWithGlobals<MobGlobals>());
  const interrupted = (): void => {
    ctx.conn.close();
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  try {
    process.exitCode = (await action(ctx)) ?? 0;
  } catch (e) {
    let report = describeError(e);
    if (report.code === 'UNAVAILABLE' && report.reason === null) {
      report = { ...report, message: `${report.message.replace(/\s*Resolution note:\s*$/, '')} (is a sidecar listening at ${ctx.conn.address}? start one with \`npm run sidecar\` or pass --sidecar)` };
    }
    process.stderr.write(ctx.json ? `${JSON.stringify({ error: report })}\n` : `${formatError(report)}\n`);
    process.exitCode = e instanceof CliFailure ? e.exitCode : 1;
  } finally {
    process.off('SIGINT', interrupted);
    ctx.conn.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering

const label = (value: number, names: Readonly<Record<number, string>>, prefix: string): string =>
  (names[value] ?? String(value)).replace(prefix, '').toLowerCase();

export function describeMember(m: Member | undefined): string {
  if (!m) return '(no member)';
  const parts = [
    m.agent_identity,
    label(m.status, MemberStatus, ''),
    m.ready ? 'ready' : label(m.startup, StartupStage, '').replace(/_/g, ' '),
    m.agent_runtime_id ?? '-',
    m.session_id ? `session ${m.session_id}` : 'no session',
    `profile ${m.profile ?? '-'}`,
    `wired: ${m.wired_to.length > 0 ? m.wired_to.join(',') : '-'}`,
  ];
  if (m.error) parts.push(`error: ${m.error}`);
  return parts.join('  ');
}

const phaseName = (p: MobPhase): string => label(p, MobPhase, '');

function describeEvent(e: MobEvent): string {
  return `${e.cursor}  ${new Date(e.created_at).toISOString()}  ${e.type}  ${e.payload_json}`;
}

// ---------------------------------------------------------------------------------------------
// Arguments

function definitionArg(raw: string): MobDefinition {
  const text = raw === '-' ? readFileSync(0, 'utf8') : raw.trimStart().startsWith('{') ? raw : readFileSync(raw, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CliFailure('INVALID_ARGUMENT', `the definition is not JSON: ${e instanceof Error ? e.message : String(e)}`, 2);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new CliFailure('INVALID_ARGUMENT', 'the definition must be a JSON object', 2);
  return MobDefinition.fromJSON(json);
}

function labelArg(raw: string, previous: Record<string, string> = {}): Record<string, string> {
  const i = raw.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError('expected key=value');
  return { ...previous, [raw.slice(0, i)]: raw.slice(i + 1) };
}

function intArg(raw: string): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

const ACTIONS: Readonly<Record<string, LifecycleAction>> = {
  stop: LifecycleAction.STOP,
  resume: LifecycleAction.RESUME,
  complete: LifecycleAction.COMPLETE,
  reset: LifecycleAction.RESET,
  destroy: LifecycleAction.DESTROY,
};

// ---------------------------------------------------------------------------------------------
// Commands

/** Adds `meerkat mob …` to the program. */
export function addMobCommands(program: Command): void {
  const mob = program
    .command('mob')
    .description('mobs: durable teams of kernel sessions, served by the mob sidecar (MobService)')
    .addOption(new Option('-s, --sidecar <host:port>', 'sidecar gRPC address').env('MEERKAT_SIDECAR_ADDRESS').default(DEFAULT_SIDECAR_ADDRESS));
  const S = MobServiceService;

  mob
    .command('create <definition>')
    .description('create a mob from a JSON definition (a file, "-" for stdin, or the JSON itself)')
    .action((def: string, _o: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const r = await ctx.unary(S.createMob, { definition: definitionArg(def) });
        ctx.emit(CreateMobResponse, r, () => `created mob ${r.mob_id} (${phaseName(r.phase)})`);
      }),
    );

  mob
    .command('spawn <mob> <identity>')
    .description('spawn a member (a kernel session bound through the seam)')
    .requiredOption('-p, --profile <name>', 'profile of the definition')
    .option('-l, --label <key=value>', 'label (repeatable)', labelArg, {})
    .option('--ensure', 'do nothing when the member is already active (EnsureMember)')
    .action((mobId: string, identity: string, o: { profile: string; label: Record<string, string>; ensure?: boolean }, cmd: Command) =>
      run(cmd, async (ctx) => {
        const req = { mob_id: mobId, agent_identity: identity, profile: o.profile, labels: o.label };
        if (o.ensure) {
          const r = await ctx.unary(S.ensureMember, req);
          ctx.out(ctx.json ? JSON.stringify({ member: r.member, spawned: r.spawned }) : `${r.spawned ? 'spawned' : 'already active'}: ${describeMember(r.member)}`);
          return;
        }
        const r = await ctx.unary(S.spawnMember, req);
        ctx.emit(SpawnMemberResponse, r, () => `spawned ${describeMember(r.member)}`);
      }),
    );

  mob
    .command('wait-ready <mob> [identities...]')
    .description('wait until the members (default: all current ones) are ready')
    .action((mobId: string, identities: string[], _o: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        let all = false;
        await consume(ctx.stream(S.waitReady, { mob_id: mobId, agent_identities: identities }), (m) => {
          all = m.all_ready;
          if (ctx.json) ctx.out(JSON.stringify(WaitReadyResponse.toJSON(m)));
          else for (const x of m.members) ctx.out(describeMember(x));
        });
        if (!ctx.json) ctx.out(all ? 'all ready' : 'not ready');
        return all ? 0 : 3;
      }),
    );

  for (const [name, method, type] of [
    ['wire', S.wireMembers, WireMembersResponse],
    ['unwire', S.unwireMembers, UnwireMembersResponse],
  ] as const) {
    mob
      .command(`${name} <mob> <a> <b>`)
      .description(name === 'wire' ? 'wire two members (they may message each other)' : 'remove the wiring between two members')
      .action((mobId: string, a: string, b: string, _o: unknown, cmd: Command) =>
        run(cmd, async (ctx) => {
          const r = await ctx.unary(method, { mob_id: mobId, a, b });
          ctx.emit(type, r, () => `${r.changed ? `${name}d` : name === 'wire' ? 'already wired' : 'not wired'}: ${a} ↔ ${b} (topology epoch ${r.topology_epoch})`);
        }),
      );
  }

  mob
    .command('send <mob> <identity> <content>')
    .description('send work to a member ("-" reads stdin); --wait prints the run’s result')
    .option('--internal', 'internal origin (default external: the profile must be externally addressable)')
    .option('-w, --work-id <id>', 'work id (idempotency key); minted when absent')
    .option('--wait', 'wait for the terminal outcome')
    .action((mobId: string, identity: string, content: string, o: { internal?: boolean; workId?: string; wait?: boolean }, cmd: Command) =>
      run(cmd, async (ctx) => {
        const text = content === '-' ? readFileSync(0, 'utf8') : content;
        const r = await ctx.unary(
          S.submitWork,
          { mob_id: mobId, agent_identity: identity, content: text, origin: o.internal ? WorkOrigin.INTERNAL : WorkOrigin.EXTERNAL, work_id: o.workId, wait: o.wait === true },
          o.wait === true,
        );
        if (ctx.json) ctx.out(JSON.stringify(SubmitWorkResponse.toJSON(r)));
        else {
          process.stderr.write(`admitted work ${r.work_id} as input ${r.input_id} in session ${r.session_id}${r.deduplicated ? ' (deduplicated)' : ''}\n`);
          if (o.wait) ctx.out(describeCompletion(r.outcome));
        }
        return o.wait && !isSuccessfulCompletion(r.outcome) ? 3 : 0;
      }),
    );

  mob
    .command('message <mob> <from> <to> <body>')
    .description('send a peer message from one member to a member it is wired to')
    .action((mobId: string, from: string, to: string, body: string, _o: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const r = await ctx.unary(S.sendPeerMessage, { mob_id: mobId, from, to, body });
        ctx.emit(SendPeerMessageResponse, r, () => `delivered to ${to}: input ${r.input_id} in session ${r.session_id}`);
      }),
    );

  mob
    .command('retire <mob> <identity>')
    .description('retire a member and wait until it is archived')
    .action((mobId: string, identity: string, _o: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const r = await ctx.unary(S.retireMember, { mob_id: mobId, agent_identity: identity }, true);
        ctx.emit(RetireMemberResponse, r, () => `retired ${describeMember(r.member)}`);
      }),
    );

  mob
    .command('respawn <mob> <identity>')
    .description('retire the member’s incarnation and spawn the next generation (wiring kept)')
    .action((mobId: string, identity: string, _o: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const r = await ctx.unary(S.respawnMember, { mob_id: mobId, agent_identity: identity }, true);
        ctx.emit(RespawnMemberResponse, r, () => `respawned ${describeMember(r.member)}`);
      }),
    );

  mob
    .command('lifecycle <mob> <action>')
    .description('stop | resume | complete | reset | destroy')
    .action((mobId: string, action: string, _o: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const a = ACTIONS[action];
        if (a === undefined) throw new CliFailure('INVALID_ARGUMENT', `unknown action "${action}" (stop, resume, complete, reset or destroy)`, 2);
        const r = await ctx.unary(S.lifecycle, { mob_id: mobId, action: a }, true);
        ctx.emit(LifecycleResponse, r, () => `mob ${mobId}: ${phaseName(r.phase)}${a === LifecycleAction.DESTROY ? ` (${r.sessions_destroyed} kernel sessions destroyed)` : ''}`);
      }),
    );

  mob
    .command('status <mob>')
    .description('phase, members, wiring and seam counters')
    .action((mobId: string, _o: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const r = await ctx.unary(S.getStatus, { mob_id: mobId });
        ctx.emit(GetStatusResponse, r, () =>
          [
            `mob ${r.mob_id}: ${phaseName(r.phase)}${r.lifecycle_intent ? ` (quiescing for ${r.lifecycle_intent})` : ''}`,
            `members ${r.members} (${r.ready_members} ready), wiring edges ${r.wiring_edges}, topology epoch ${r.topology_epoch}`,
            `kernel requests pending ${r.pending_kernel_requests}; signals applied ${r.signals_applied}, dropped ${r.signals_dropped}; signal cursor ${r.signal_cursor}`,
          ].join('\n'),
        );
      }),
    );

  mob
    .command('members <mob>')
    .description('members, one per line')
    .option('--all', 'include retired members')
    .action((mobId: string, o: { all?: boolean }, cmd: Command) =>
      run(cmd, async (ctx) => {
        const r = await ctx.unary(S.listMembers, { mob_id: mobId, include_retired: o.all === true });
        ctx.emit(ListMembersResponse, r, () => (r.members.length === 0 ? '(no members)' : r.members.map(describeMember).join('\n')));
      }),
    );

  mob
    .command('member <mob> <identity>')
    .description('one member')
    .action((mobId: string, identity: string, _o: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const r = await ctx.unary(S.getMember, { mob_id: mobId, agent_identity: identity });
        ctx.emit(GetMemberResponse, r, () => describeMember(r.member));
      }),
    );

  mob
    .command('events <mob>')
    .description('the mob’s event journal after a cursor; --follow keeps streaming new events')
    .option('--after <cursor>', 'events after this cursor', intArg, 0)
    .option('--limit <n>', 'at most this many (without --follow)', intArg, 100)
    .option('-f, --follow', 'stream new events until interrupted')
    .action((mobId: string, o: { after: number; limit: number; follow?: boolean }, cmd: Command) =>
      run(cmd, async (ctx) => {
        if (o.follow) {
          await consume(ctx.stream(S.followEvents, { mob_id: mobId, after_cursor: o.after }), (m) => {
            if (m.event) ctx.out(ctx.json ? JSON.stringify(FollowEventsResponse.toJSON(m)) : describeEvent(m.event));
          });
          return;
        }
        const r = await ctx.unary(S.listEvents, { mob_id: mobId, after_cursor: o.after, limit: o.limit });
        ctx.emit(ListEventsResponse, r, () => r.events.map(describeEvent).join('\n'));
      }),
    );
}
