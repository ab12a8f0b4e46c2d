package io.lockstep.agent.restore;

import java.io.File;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;
import java.security.CodeSource;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * How to run {@link RestoreStub}: the java binary, a class path holding only what the stub
 * loads (agent classes, generated protos, protobuf, jnr-ffi and its helpers), and JVM options
 * chosen for a short start-up.
 */
public record StubJvm(Path java, String classpath, List<String> options) {
    /**
     * C1 only (the stub runs for seconds, C2 would never pay off), class-data sharing when the
     * JDK has an archive, the serial collector (no GC threads to start) and no perf-data file.
     */
    public static final List<String> FAST_START_OPTIONS = List.of(
            "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-XX:+UseSerialGC", "-XX:-UsePerfData", "-Xss512k");

    /** Classes whose jars the stub needs; optional ones (other CPU's assemblers) may be absent. */
    private static final List<String> REQUIRED_CLASSES = List.of(
            "io.lockstep.agent.restore.RestoreStub",
            "io.lockstep.proto.ToStub",
            "com.google.protobuf.MessageLite",
            "jnr.ffi.LibraryLoader",
            "com.kenai.jffi.Foreign",
            "org.objectweb.asm.ClassWriter");
    private static final List<String> OPTIONAL_CLASSES = List.of(
            "org.objectweb.asm.commons.AdviceAdapter",
            "org.objectweb.asm.tree.ClassNode",
            "org.objectweb.asm.tree.analysis.Analyzer",
            "org.objectweb.asm.util.CheckClassAdapter",
            "com.kenai.jnr.x86asm.Assembler",
            "jnr.a64asm.Assembler_A64");

    /** The stub JVM as this JVM would run it: same java binary, minimal class path, fast-start options. */
    public static StubJvm current() {
        return new StubJvm(Path.of(System.getProperty("java.home"), "bin", "java"), minimalClasspath(),
                FAST_START_OPTIONS);
    }

    public StubJvm withOptions(List<String> newOptions) {
        return new StubJvm(java, classpath, List.copyOf(newOptions));
    }

    static String minimalClasspath() {
        ClassLoader loader = StubJvm.class.getClassLoader();
        Set<String> entries = new LinkedHashSet<>();
        for (String name : REQUIRED_CLASSES) {
            entries.add(locationOf(name, loader, true));
        }
        for (String name : OPTIONAL_CLASSES) {
            String location = locationOf(name, loader, false);
            if (location != null) {
                entries.add(location);
            }
        }
        // jffi's native library is a resource of its own jar.
        URL nativeDir = loader.getResource("jni/" + jffiPlatform() + "/");
        if (nativeDir == null) {
            throw new IllegalStateException("jffi native library for " + jffiPlatform()
                    + " is not on the agent's class path");
        }
        entries.add(jarOf(nativeDir));
        return String.join(File.pathSeparator, new ArrayList<>(entries));
    }

    private static String locationOf(String className, ClassLoader loader, boolean required) {
        try {
            CodeSource source = Class.forName(className, false, loader).getProtectionDomain().getCodeSource();
            return Path.of(source.getLocation().toURI()).toString();
        } catch (ClassNotFoundException | NoClassDefFoundError e) {
            if (required) {
                throw new IllegalStateException("the restore stub needs " + className
                        + ", which is not on the agent's class path", e);
            }
            return null;
        } catch (URISyntaxException e) {
            throw new IllegalStateException("cannot locate the jar of " + className, e);
        }
    }

    private static String jarOf(URL resource) {
        String url = resource.toString();
        if (!url.startsWith("jar:file:")) {
            throw new IllegalStateException("jffi native library is not in a jar: " + url);
        }
        return Path.of(URI.create(url.substring(4, url.indexOf("!/")))).toString();
    }

    private static String jffiPlatform() {
        String arch = System.getProperty("os.arch");
        return (arch.equals("amd64") ? "x86_64" : arch) + "-Linux";
    }
}
