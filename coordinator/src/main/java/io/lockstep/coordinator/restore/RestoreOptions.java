package io.lockstep.coordinator.restore;

import io.lockstep.proto.PathMapping;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What to restore and how: the checkpoint ("latest" or an id), old host → new host (identity for
 * hosts not named), path prefix maps, the deadlines, and whether the group's running processes
 * are stopped first ({@code replaceGrace} present: SIGTERM, SIGKILL after it) or refuse the restore, and whether
 * the checkpoint's snapshots are rolled back (the default when it has any) or not ({@code noRollBack}).
 */
public record RestoreOptions(String checkpoint, Map<String, String> hostMap, List<PathMapping> pathMaps, boolean force,
                             boolean allowRoot, boolean skipUnrestartable, Duration timeout, Duration rpcTimeout,
                             Optional<Duration> replaceGrace, boolean noRollBack) {
    public RestoreOptions(String checkpoint, Map<String, String> hostMap, List<PathMapping> pathMaps, boolean force,
                          boolean allowRoot, boolean skipUnrestartable, Duration timeout, Duration rpcTimeout,
                          Optional<Duration> replaceGrace) {
        this(checkpoint, hostMap, pathMaps, force, allowRoot, skipUnrestartable, timeout, rpcTimeout, replaceGrace, false);
    }

    public static RestoreOptions defaults() {
        return new RestoreOptions("latest", Map.of(), List.of(), false, false, false, Duration.ofSeconds(60),
                Duration.ofSeconds(30), Optional.empty(), false);
    }

    /** Stop the group's running processes before restoring: SIGTERM, then SIGKILL after {@code grace}. */
    public RestoreOptions withReplace(Duration grace) {
        return new RestoreOptions(checkpoint, hostMap, pathMaps, force, allowRoot, skipUnrestartable, timeout, rpcTimeout,
                Optional.of(grace), noRollBack);
    }

    public String targetOf(String sourceHost) {
        return hostMap.getOrDefault(sourceHost, sourceHost);
    }

    public RestoreOptions withCheckpoint(String id) {
        return new RestoreOptions(id, hostMap, pathMaps, force, allowRoot, skipUnrestartable, timeout, rpcTimeout, replaceGrace, noRollBack);
    }

    public RestoreOptions withHostMap(Map<String, String> map) {
        return new RestoreOptions(checkpoint, Map.copyOf(map), pathMaps, force, allowRoot, skipUnrestartable, timeout,
                rpcTimeout, replaceGrace, noRollBack);
    }

    public RestoreOptions withPathMaps(List<PathMapping> maps) {
        return new RestoreOptions(checkpoint, hostMap, List.copyOf(maps), force, allowRoot, skipUnrestartable, timeout,
                rpcTimeout, replaceGrace, noRollBack);
    }

    public RestoreOptions withForce(boolean value) {
        return new RestoreOptions(checkpoint, hostMap, pathMaps, value, allowRoot, skipUnrestartable, timeout, rpcTimeout, replaceGrace, noRollBack);
    }

    public RestoreOptions withTimeout(Duration value) {
        return new RestoreOptions(checkpoint, hostMap, pathMaps, force, allowRoot, skipUnrestartable, value,
                rpcTimeout.compareTo(value) < 0 ? rpcTimeout : value, replaceGrace, noRollBack);
    }

    public RestoreOptions withAllowRoot(boolean value) {
        return new RestoreOptions(checkpoint, hostMap, pathMaps, force, value, skipUnrestartable, timeout, rpcTimeout, replaceGrace, noRollBack);
    }

    public RestoreOptions withSkipUnrestartable(boolean value) {
        return new RestoreOptions(checkpoint, hostMap, pathMaps, force, allowRoot, value, timeout, rpcTimeout, replaceGrace, noRollBack);
    }

    /** Keep the current files even when the checkpoint has snapshots (then size/mtime validation applies). */
    public RestoreOptions withNoRollBack(boolean value) {
        return new RestoreOptions(checkpoint, hostMap, pathMaps, force, allowRoot, skipUnrestartable, timeout, rpcTimeout,
                replaceGrace, value);
    }
}
