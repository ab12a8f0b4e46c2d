/**
 * Holding a group's processes still on one host: docs/DESIGN.md "Processes in a group" and
 * "Checkpoint" step 2.
 *
 * <p>How the agent uses it:
 *
 * <pre>{@code
 * CgroupLayout layout = CgroupLayout.detect();          // once; report layout.degraded()
 * GroupCgroup group = layout.forGroup("web");          // keep the instance per group
 * group.create();
 * // agent run / restore stub: start group.entryCommand() + argv (pid set: addProcess(pid))
 *
 * FreezeGuard guard = FreezeGuard.arm(group.freezer(), maxFrozen);   // before the freeze
 * try {
 *     FreezeResult frozen = group.freezer().freeze(guard.capDeadline(deadline));
 *     ... frozen/<host>, capture, wait for the decision ...
 * } finally {
 *     group.freezer().thaw();
 *     boolean stillGuarded = guard.cancel();   // false: the guard had thawed it, abort
 * }
 * }</pre>
 */
package io.lockstep.agent.cgroup;
