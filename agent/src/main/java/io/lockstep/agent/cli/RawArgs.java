package io.lockstep.agent.cli;

import io.lockstep.names.RawNames;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The command line as the kernel holds it. The JVM decodes {@code main}'s arguments with its
 * locale's charset ({@code sun.jnu.encoding}): under the C locale every non-ASCII byte becomes
 * '?', and no charset keeps a byte that is not UTF-8. {@code /proc/self/cmdline} has the bytes;
 * the arguments are its last entries, as {@link RawNames} strings.
 */
final class RawArgs {
    private RawArgs() {
    }

    /**
     * The exact arguments, or {@code decoded} itself when the tail of /proc/self/cmdline is not
     * them (a JVM started by other means, e.g. a test calling {@code main}): each raw entry must
     * equal the decoded one in its ASCII characters, which every charset decodes alike.
     */
    static String[] of(String[] decoded) {
        List<String> all;
        try {
            all = RawNames.splitNul(Files.readAllBytes(Path.of("/proc/self/cmdline")));
        } catch (IOException e) {
            return decoded;
        }
        if (all.size() < decoded.length) {
            return decoded;
        }
        List<String> tail = all.subList(all.size() - decoded.length, all.size());
        for (int i = 0; i < decoded.length; i++) {
            if (!asciiOf(tail.get(i)).equals(asciiOf(decoded[i]))) {
                return decoded;
            }
        }
        return tail.toArray(String[]::new);
    }

    /** The ASCII characters but '?', the replacement some charsets decode a foreign byte to. */
    private static String asciiOf(String arg) {
        StringBuilder out = new StringBuilder(arg.length());
        for (int i = 0; i < arg.length(); i++) {
            char ch = arg.charAt(i);
            if (ch < 0x80 && ch != '?') {
                out.append(ch);
            }
        }
        return out.toString();
    }
}
