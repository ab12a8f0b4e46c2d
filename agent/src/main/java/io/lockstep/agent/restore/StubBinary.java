package io.lockstep.agent.restore;

import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The native restore stub ({@code src/main/c/lockstep-stub.c}), which the build compiles with the
 * system C compiler into the agent's classes, next to this class. From a class directory it runs
 * where it is; from a jar the agent copies it once into {@code <state>/bin}, named by its digest.
 */
public record StubBinary(Path path) {
    /** The binary's file name, also how a test recognizes a stub in a process list. */
    public static final String NAME = "lockstep-stub";

    /** Exit codes of the stub, as the agent and the tests read them. */
    static final int EXIT_ABORTED = 0;
    static final int EXIT_AGENT_LOST = 3;
    static final int EXIT_STAGE_FAILED = 4;
    static final int EXIT_PROTOCOL = 5;

    /** The stub this agent ships, installed under {@code stateDir} when it is inside a jar. */
    public static StubBinary installed(Path stateDir) throws IOException {
        return new StubBinary(program(StubBinary.class, NAME, stateDir));
    }

    /**
     * A native program the agent's build compiled next to {@code anchor}'s class (the stub, the
     * freeze guard): where it is in a class directory; from a jar copied once to
     * {@code <state>/bin/<name>-<sha256 prefix>}.
     */
    public static Path program(Class<?> anchor, String name, Path stateDir) throws IOException {
        URL resource = anchor.getResource(name);
        if (resource == null) {
            throw new IOException("the program " + anchor.getPackageName().replace('.', '/') + "/" + name
                    + " is not on the agent's class path: build the agent with Maven and a C compiler (gcc)");
        }
        if (resource.getProtocol().equals("file")) {
            try {
                return executable(Path.of(resource.toURI()));
            } catch (URISyntaxException e) {
                throw new IOException("cannot locate the program " + name + " at " + resource, e);
            }
        }
        byte[] binary;
        try (InputStream in = resource.openStream()) {
            binary = in.readAllBytes();
        }
        Path dir = Files.createDirectories(stateDir.resolve("bin"));
        Path target = dir.resolve(name + "-" + digest(binary));
        if (!Files.isRegularFile(target)) {
            Path temp = Files.createTempFile(dir, name, ".tmp");
            Files.write(temp, binary);
            Files.setPosixFilePermissions(temp, PosixFilePermissions.fromString("r-xr-xr-x"));
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
        }
        return executable(target);
    }

    private static Path executable(Path path) throws IOException {
        if (!Files.isExecutable(path)) {
            throw new IOException("the program " + path + " is not executable");
        }
        return path;
    }

    private static String digest(byte[] binary) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(binary)).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }
}
