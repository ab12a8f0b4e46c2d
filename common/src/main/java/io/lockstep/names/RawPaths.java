package io.lockstep.names;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Optional;

/**
 * Absolute paths as {@link RawNames} strings, taken apart and joined lexically as
 * {@link java.nio.file.Path} would, but without the JVM's charset (which cannot hold every
 * name: under the C locale not even "données").
 */
public final class RawPaths {
    private RawPaths() {
    }

    /** Without "." and empty elements, ".." taken lexically (never above "/"), no trailing slash. */
    public static String normalize(String path) {
        Deque<String> elements = new ArrayDeque<>();
        for (String element : path.split("/")) {
            if (element.isEmpty() || element.equals(".")) {
                continue;
            }
            if (element.equals("..")) {
                if (!elements.isEmpty() && !elements.peekLast().equals("..")) {
                    elements.removeLast();
                } else if (!path.startsWith("/")) {
                    elements.addLast(element);
                }
                continue;
            }
            elements.addLast(element);
        }
        String joined = String.join("/", elements);
        return path.startsWith("/") ? "/" + joined : joined;
    }

    public static boolean isNormalizedAbsolute(String path) {
        return path.startsWith("/") && normalize(path).equals(path);
    }

    /** Whether {@code path} is {@code prefix} or below it, element by element (both normalized). */
    public static boolean isUnder(String path, String prefix) {
        return prefix.equals("/") ? path.startsWith("/") : path.equals(prefix) || path.startsWith(prefix + "/");
    }

    /** The part of {@code path} below {@code prefix} ("" for the prefix itself); both normalized. */
    public static String below(String prefix, String path) {
        if (!isUnder(path, prefix)) {
            throw new IllegalArgumentException(RawNames.display(path) + " is not under " + RawNames.display(prefix));
        }
        return path.equals(prefix) ? "" : path.substring(prefix.equals("/") ? 1 : prefix.length() + 1);
    }

    /** {@code base}/{@code relative}; {@code base} itself for an empty {@code relative}. */
    public static String resolve(String base, String relative) {
        if (relative.isEmpty()) {
            return base;
        }
        return base.endsWith("/") ? base + relative : base + "/" + relative;
    }

    /** The directory a normalized absolute path is in; empty for "/". */
    public static Optional<String> parent(String path) {
        if (path.equals("/") || path.isEmpty()) {
            return Optional.empty();
        }
        int slash = path.lastIndexOf('/');
        return Optional.of(slash <= 0 ? "/" : path.substring(0, slash));
    }

    /** How many elements a normalized absolute path has ("/" has none). */
    public static int depth(String path) {
        int n = 0;
        for (int i = 0; i < path.length(); i++) {
            if (path.charAt(i) == '/' && i + 1 < path.length()) {
                n++;
            }
        }
        return n;
    }
}
