package io.lockstep.names;

import com.google.protobuf.ByteString;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.proto.RestartSpec;
import io.lockstep.proto.RunRequest;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The names of records on the wire and on disk: {@link #deflate deflated}, a name that is not
 * plain UTF-8 text is kept as its display form (string field) plus its exact bytes (the
 * {@code raw_*} field beside it); {@link #inflate inflated}, in memory,
 * the string field holds the exact name (a {@link RawNames} string) and the bytes fields are
 * empty. Serialize only deflated messages, and inflate every parsed one: protobuf writes a string
 * field as UTF-8, which has no form for a byte that is not UTF-8. Records of older agents have no
 * bytes fields; their strings are exact as they are.
 */
public final class RecordedNames {
    private RecordedNames() {
    }

    // ---- deflate: exact strings -> display strings + bytes ----

    public static Manifest deflate(Manifest manifest) {
        Manifest.Builder b = manifest.toBuilder();
        for (ProcessRecord.Builder p : b.getProcessesBuilderList()) {
            deflate(p);
        }
        return b.build();
    }

    private static void deflate(ProcessRecord.Builder p) {
        Launch launch = Launch.of(p.getArgvList(), p.getRawArgvList(), p.getCwd(), p.getRawCwd(), Map.of(), List.of())
                .deflated();
        p.clearArgv().addAllArgv(launch.argv()).clearRawArgv().addAllRawArgv(launch.rawArgv())
                .setCwd(launch.cwd()).setRawCwd(launch.rawCwd());
        if (p.hasCwdIdentity()) {
            p.setCwdIdentity(deflate(p.getCwdIdentity()));
        }
        if (p.hasRestart()) {
            p.setRestart(deflate(p.getRestart()));
        }
        for (FdRecord.Builder fd : p.getFdsBuilderList()) {
            if (fd.getRawPath().isEmpty() && RawNames.needsEscaping(fd.getPath())) {
                String path = fd.getPath();
                fd.setPath(RawNames.display(path)).setRawPath(RawNames.bytes(path));
            }
            if (fd.hasIdentity()) {
                fd.setIdentity(deflate(fd.getIdentity()));
            }
        }
        for (LockRecord.Builder lock : p.getLocksBuilderList()) {
            if (lock.hasIdentity()) {
                lock.setIdentity(deflate(lock.getIdentity()));
            }
        }
    }

    public static FileIdentity deflate(FileIdentity identity) {
        if (!identity.getRawRelativePath().isEmpty() || !RawNames.needsEscaping(identity.getRelativePath())) {
            return identity;
        }
        String path = identity.getRelativePath();
        return identity.toBuilder().setRelativePath(RawNames.display(path)).setRawRelativePath(RawNames.bytes(path))
                .build();
    }

    public static RestartSpec deflate(RestartSpec spec) {
        return launchInto(spec.toBuilder(), Launch.of(spec).deflated()).build();
    }

    public static RunRequest deflate(RunRequest request) {
        return launchInto(request.toBuilder(), Launch.of(request).deflated()).build();
    }

    // ---- inflate: display strings + bytes -> exact strings ----

    public static Manifest inflate(Manifest manifest) {
        Manifest.Builder b = manifest.toBuilder();
        for (ProcessRecord.Builder p : b.getProcessesBuilderList()) {
            inflate(p);
        }
        return b.build();
    }

    private static void inflate(ProcessRecord.Builder p) {
        Launch launch = Launch.of(p.getArgvList(), p.getRawArgvList(), p.getCwd(), p.getRawCwd(), Map.of(), List.of())
                .inflated();
        p.clearArgv().addAllArgv(launch.argv()).clearRawArgv().addAllRawArgv(launch.rawArgv())
                .setCwd(launch.cwd()).setRawCwd(launch.rawCwd());
        if (p.hasCwdIdentity()) {
            p.setCwdIdentity(inflate(p.getCwdIdentity()));
        }
        if (p.hasRestart()) {
            p.setRestart(inflate(p.getRestart()));
        }
        for (FdRecord.Builder fd : p.getFdsBuilderList()) {
            if (!fd.getRawPath().isEmpty()) {
                fd.setPath(RawNames.decode(fd.getRawPath())).clearRawPath();
            }
            if (fd.hasIdentity()) {
                fd.setIdentity(inflate(fd.getIdentity()));
            }
        }
        for (LockRecord.Builder lock : p.getLocksBuilderList()) {
            if (lock.hasIdentity()) {
                lock.setIdentity(inflate(lock.getIdentity()));
            }
        }
    }

    public static FileIdentity inflate(FileIdentity identity) {
        if (identity.getRawRelativePath().isEmpty()) {
            return identity;
        }
        return identity.toBuilder().setRelativePath(RawNames.decode(identity.getRawRelativePath()))
                .clearRawRelativePath().build();
    }

    public static RestartSpec inflate(RestartSpec spec) {
        return launchInto(spec.toBuilder(), Launch.of(spec).inflated()).build();
    }

    public static RunRequest inflate(RunRequest request) {
        return launchInto(request.toBuilder(), Launch.of(request).inflated()).build();
    }

    private static RestartSpec.Builder launchInto(RestartSpec.Builder b, Launch launch) {
        b.clearArgv().addAllArgv(launch.argv()).clearRawArgv().addAllRawArgv(launch.rawArgv());
        b.setCwd(launch.cwd()).setRawCwd(launch.rawCwd());
        return b.clearEnv().putAllEnv(launch.env()).clearRawEnv().addAllRawEnv(launch.rawEnv());
    }

    private static RunRequest.Builder launchInto(RunRequest.Builder b, Launch launch) {
        b.clearArgv().addAllArgv(launch.argv()).clearRawArgv().addAllRawArgv(launch.rawArgv());
        b.setCwd(launch.cwd()).setRawCwd(launch.rawCwd());
        return b.clearEnv().putAllEnv(launch.env()).clearRawEnv().addAllRawEnv(launch.rawEnv());
    }

    /**
     * The argv, cwd and environment of a program to start, as a process record, a restart spec and a run
     * request each carry them (a process record without the environment): one deflate and one inflate serve all.
     */
    private record Launch(List<String> argv, List<ByteString> rawArgv, String cwd, ByteString rawCwd,
            Map<String, String> env, List<ByteString> rawEnv) {
        static Launch of(List<String> argv, List<ByteString> rawArgv, String cwd, ByteString rawCwd,
                Map<String, String> env, List<ByteString> rawEnv) {
            return new Launch(List.copyOf(argv), List.copyOf(rawArgv), cwd, rawCwd, env, List.copyOf(rawEnv));
        }

        static Launch of(RestartSpec spec) {
            return of(spec.getArgvList(), spec.getRawArgvList(), spec.getCwd(), spec.getRawCwd(), spec.getEnvMap(),
                    spec.getRawEnvList());
        }

        static Launch of(RunRequest request) {
            return of(request.getArgvList(), request.getRawArgvList(), request.getCwd(), request.getRawCwd(),
                    request.getEnvMap(), request.getRawEnvList());
        }

        /** Each name that is not plain UTF-8 text as its display form plus its bytes; already deflated parts stay. */
        Launch deflated() {
            List<String> newArgv = argv;
            List<ByteString> newRawArgv = rawArgv;
            if (rawArgv.isEmpty() && anyNeedsEscaping(argv)) {
                newArgv = displays(argv);
                newRawArgv = bytes(argv);
            }
            String newCwd = cwd;
            ByteString newRawCwd = rawCwd;
            if (rawCwd.isEmpty() && RawNames.needsEscaping(cwd)) {
                newCwd = RawNames.display(cwd);
                newRawCwd = RawNames.bytes(cwd);
            }
            Map<String, String> newEnv = env;
            List<ByteString> newRawEnv = rawEnv;
            if (rawEnv.isEmpty() && envNeedsEscaping(env)) {
                // Sorted, so that the raw entries come in one order whatever order the map had.
                newEnv = new LinkedHashMap<>();
                newRawEnv = new ArrayList<>();
                for (Map.Entry<String, String> e : new TreeMap<>(env).entrySet()) {
                    newEnv.put(RawNames.display(e.getKey()), RawNames.display(e.getValue()));
                    newRawEnv.add(RawNames.bytes(e.getKey() + "=" + e.getValue()));
                }
            }
            return new Launch(newArgv, newRawArgv, newCwd, newRawCwd, newEnv, newRawEnv);
        }

        /** Each name recorded as bytes back as its exact string, the bytes dropped. */
        Launch inflated() {
            List<String> newArgv = rawArgv.isEmpty() ? argv : decoded(rawArgv);
            String newCwd = rawCwd.isEmpty() ? cwd : RawNames.decode(rawCwd);
            Map<String, String> newEnv = rawEnv.isEmpty() ? env : environment(rawEnv);
            return new Launch(newArgv, List.of(), newCwd, ByteString.EMPTY, newEnv, List.of());
        }
    }

    /** NAME=value entries as a map; an entry without '=' (possible in /proc/<pid>/environ) assigns nothing. */
    public static Map<String, String> environment(List<ByteString> entries) {
        return assignments(decoded(entries));
    }

    /** {@link #environment} of entries already decoded ({@link RawNames} strings). */
    public static Map<String, String> assignments(List<String> entries) {
        Map<String, String> env = new TreeMap<>();
        for (String text : entries) {
            int eq = text.indexOf('=');
            if (eq > 0) {
                env.put(text.substring(0, eq), text.substring(eq + 1));
            }
        }
        return env;
    }

    private static boolean anyNeedsEscaping(List<String> names) {
        for (String name : names) {
            if (RawNames.needsEscaping(name)) {
                return true;
            }
        }
        return false;
    }

    private static boolean envNeedsEscaping(Map<String, String> env) {
        for (Map.Entry<String, String> e : env.entrySet()) {
            if (RawNames.needsEscaping(e.getKey()) || RawNames.needsEscaping(e.getValue())) {
                return true;
            }
        }
        return false;
    }

    private static List<String> displays(List<String> names) {
        return names.stream().map(RawNames::display).toList();
    }

    private static List<ByteString> bytes(List<String> names) {
        return names.stream().map(RawNames::bytes).toList();
    }

    private static List<String> decoded(List<ByteString> raw) {
        return raw.stream().map(RawNames::decode).toList();
    }
}
