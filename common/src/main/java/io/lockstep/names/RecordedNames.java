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
        if (p.getRawArgvCount() == 0 && anyNeedsEscaping(p.getArgvList())) {
            List<String> argv = new ArrayList<>(p.getArgvList());
            p.clearArgv().addAllArgv(displays(argv)).addAllRawArgv(bytes(argv));
        }
        if (p.getRawCwd().isEmpty() && RawNames.needsEscaping(p.getCwd())) {
            String cwd = p.getCwd();
            p.setCwd(RawNames.display(cwd)).setRawCwd(RawNames.bytes(cwd));
        }
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
        RestartSpec.Builder b = spec.toBuilder();
        if (b.getRawArgvCount() == 0 && anyNeedsEscaping(b.getArgvList())) {
            List<String> argv = new ArrayList<>(b.getArgvList());
            b.clearArgv().addAllArgv(displays(argv)).addAllRawArgv(bytes(argv));
        }
        if (b.getRawCwd().isEmpty() && RawNames.needsEscaping(b.getCwd())) {
            b.setCwd(RawNames.display(b.getCwd())).setRawCwd(RawNames.bytes(spec.getCwd()));
        }
        if (b.getRawEnvCount() == 0 && envNeedsEscaping(b.getEnvMap())) {
            Map<String, String> env = new TreeMap<>(b.getEnvMap());
            b.clearEnv();
            env.forEach((name, value) -> {
                b.putEnv(RawNames.display(name), RawNames.display(value));
                b.addRawEnv(RawNames.bytes(name + "=" + value));
            });
        }
        return b.build();
    }

    public static RunRequest deflate(RunRequest request) {
        RunRequest.Builder b = request.toBuilder();
        if (b.getRawArgvCount() == 0 && anyNeedsEscaping(b.getArgvList())) {
            List<String> argv = new ArrayList<>(b.getArgvList());
            b.clearArgv().addAllArgv(displays(argv)).addAllRawArgv(bytes(argv));
        }
        if (b.getRawCwd().isEmpty() && RawNames.needsEscaping(b.getCwd())) {
            b.setCwd(RawNames.display(b.getCwd())).setRawCwd(RawNames.bytes(request.getCwd()));
        }
        if (b.getRawEnvCount() == 0 && envNeedsEscaping(b.getEnvMap())) {
            Map<String, String> env = new TreeMap<>(b.getEnvMap());
            b.clearEnv();
            env.forEach((name, value) -> {
                b.putEnv(RawNames.display(name), RawNames.display(value));
                b.addRawEnv(RawNames.bytes(name + "=" + value));
            });
        }
        return b.build();
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
        if (p.getRawArgvCount() > 0) {
            List<ByteString> raw = new ArrayList<>(p.getRawArgvList());
            p.clearArgv().clearRawArgv().addAllArgv(decoded(raw));
        }
        if (!p.getRawCwd().isEmpty()) {
            p.setCwd(RawNames.decode(p.getRawCwd())).clearRawCwd();
        }
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
        RestartSpec.Builder b = spec.toBuilder();
        if (b.getRawArgvCount() > 0) {
            List<ByteString> raw = new ArrayList<>(b.getRawArgvList());
            b.clearArgv().clearRawArgv().addAllArgv(decoded(raw));
        }
        if (!b.getRawCwd().isEmpty()) {
            b.setCwd(RawNames.decode(b.getRawCwd())).clearRawCwd();
        }
        if (b.getRawEnvCount() > 0) {
            List<ByteString> raw = new ArrayList<>(b.getRawEnvList());
            b.clearEnv().clearRawEnv().putAllEnv(environment(raw));
        }
        return b.build();
    }

    public static RunRequest inflate(RunRequest request) {
        RunRequest.Builder b = request.toBuilder();
        if (b.getRawArgvCount() > 0) {
            List<ByteString> raw = new ArrayList<>(b.getRawArgvList());
            b.clearArgv().clearRawArgv().addAllArgv(decoded(raw));
        }
        if (!b.getRawCwd().isEmpty()) {
            b.setCwd(RawNames.decode(b.getRawCwd())).clearRawCwd();
        }
        if (b.getRawEnvCount() > 0) {
            List<ByteString> raw = new ArrayList<>(b.getRawEnvList());
            b.clearEnv().clearRawEnv().putAllEnv(environment(raw));
        }
        return b.build();
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
