package io.lockstep.coordinator.restore;

import io.lockstep.proto.PathMapping;

import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * What to restore and how: the checkpoint ("latest" or an id), old host → new host (identity for
 * hosts not named), path prefix maps, and the deadlines.
 */
public record RestoreOptions(String checkpoint, Map<String, String> hostMap, List<PathMapping> pathMaps, boolean force,
                             boolean allowRoot, boolean skipUnrestartable, Duration timeout, Duration rpcTimeout) {
    public static RestoreOptions defaults() {
        return new RestoreOptions("latest", Map.of(), List.of(), false, false, false, Duration.ofSeconds(60),
                Duration.ofSeconds(30));
    }

    public String targetOf(String sourceHost) {
        return hostMap.getOrDefault(sourceHost, sourceHost);
    }

    public RestoreOptions withCheckpoint(String id) {
        return new RestoreOptions(id, hostMap, pathMaps, force, allowRoot, skipUnrestartable, timeout, rpcTimeout);
    }

    public RestoreOptions withHostMap(Map<String, String> map) {
        return new RestoreOptions(checkpoint, Map.copyOf(map), pathMaps, force, allowRoot, skipUnrestartable, timeout,
                rpcTimeout);
    }

    public RestoreOptions withPathMaps(List<PathMapping> maps) {
        return new RestoreOptions(checkpoint, hostMap, List.copyOf(maps), force, allowRoot, skipUnrestartable, timeout,
                rpcTimeout);
    }

    public RestoreOptions withForce(boolean value) {
        return new RestoreOptions(checkpoint, hostMap, pathMaps, value, allowRoot, skipUnrestartable, timeout, rpcTimeout);
    }

    public RestoreOptions withTimeout(Duration value) {
        return new RestoreOptions(checkpoint, hostMap, pathMaps, force, allowRoot, skipUnrestartable, value,
                rpcTimeout.compareTo(value) < 0 ? rpcTimeout : value);
    }

    public RestoreOptions withAllowRoot(boolean value) {
        return new RestoreOptions(checkpoint, hostMap, pathMaps, force, value, skipUnrestartable, timeout, rpcTimeout);
    }

    public RestoreOptions withSkipUnrestartable(boolean value) {
        return new RestoreOptions(checkpoint, hostMap, pathMaps, force, allowRoot, value, timeout, rpcTimeout);
    }
}
