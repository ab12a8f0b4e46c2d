package io.lockstep.agent.server;

import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;

import java.util.concurrent.ScheduledExecutorService;

/**
 * What this host's parts of a checkpoint ({@link CheckpointParticipant}, {@link CheckpointHooks}) both work with:
 * the agent's configuration, its ZooKeeper session and layout, the admission of ops, its groups, its timer and its
 * metrics. One agent builds it once and hands the same parts to both.
 */
record CheckpointParts(AgentConfig config, CuratorFramework zk, ZkLayout layout, OpAdmission admission,
                       GroupRegistry groups, ScheduledExecutorService timer, AgentMetrics metrics) {
}
