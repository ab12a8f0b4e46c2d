package io.lockstep.names;

import com.google.protobuf.ByteString;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Names are bytes: Linux file names, arguments and environment entries are byte strings, and
 * Lockstep keeps them exactly, whatever the JVM's locale ({@code sun.jnu.encoding}).
 *
 * <p>Inside the JVM a name is a {@link String} that maps one to one onto its bytes: valid UTF-8
 * decodes as usual, and each byte that is not part of valid UTF-8 becomes the lone surrogate
 * {@code U+DC80 + byte} (the "surrogateescape" of PEP 383). {@link #encode} gives the exact bytes
 * back. Such a string never goes through a charset of the JVM (java.nio paths, ProcessBuilder):
 * files are opened and stat'ed through {@code Native} on these bytes. {@link #display} escapes
 * what is not printable ({@code \xe9}) for CLI output and logs; it never changes the value.
 */
public final class RawNames {
    private static final char ESCAPE_BASE = '\uDC00';

    private RawNames() {
    }

    public static String decode(byte[] bytes) {
        return decode(bytes, 0, bytes.length);
    }

    public static String decode(ByteString bytes) {
        return decode(bytes.toByteArray());
    }

    public static String decode(byte[] bytes, int offset, int length) {
        String utf8 = new String(bytes, offset, length, StandardCharsets.UTF_8);
        // The JDK's decoder replaces each malformed sequence by U+FFFD: when there is none, the
        // bytes were valid UTF-8 (or held an encoded U+FFFD, which the exact path below keeps).
        if (utf8.indexOf('\uFFFD') < 0) {
            return utf8;
        }
        return decodeExactly(bytes, offset, length);
    }

    private static String decodeExactly(byte[] b, int offset, int length) {
        StringBuilder out = new StringBuilder(length);
        int i = offset;
        int end = offset + length;
        while (i < end) {
            int c = b[i] & 0xff;
            int n = sequenceLength(b, i, end);
            if (n == 0) {
                out.append((char) (ESCAPE_BASE + c));
                i++;
            } else if (n == 1) {
                out.append((char) c);
                i++;
            } else {
                out.append(new String(b, i, n, StandardCharsets.UTF_8));
                i += n;
            }
        }
        return out.toString();
    }

    /** The length of the well-formed UTF-8 sequence at i (Unicode table 3-7), or 0 when there is none. */
    private static int sequenceLength(byte[] b, int i, int end) {
        int c = b[i] & 0xff;
        if (c < 0x80) {
            return 1;
        }
        int n;
        int lo = 0x80;
        int hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 3;
            if (c == 0xe0) {
                lo = 0xa0;
            } else if (c == 0xed) {
                hi = 0x9f; // no encoded surrogates: their bytes are escaped one by one
            }
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4;
            if (c == 0xf0) {
                lo = 0x90;
            } else if (c == 0xf4) {
                hi = 0x8f;
            }
        } else {
            return 0;
        }
        if (i + n > end) {
            return 0;
        }
        int second = b[i + 1] & 0xff;
        if (second < lo || second > hi) {
            return 0;
        }
        for (int k = 2; k < n; k++) {
            int next = b[i + k] & 0xff;
            if (next < 0x80 || next > 0xbf) {
                return 0;
            }
        }
        return n;
    }

    public static byte[] encode(String name) {
        if (!hasEscapes(name)) {
            return name.getBytes(StandardCharsets.UTF_8);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(name.length() + 8);
        int start = 0;
        for (int i = 0; i < name.length(); i++) {
            char ch = name.charAt(i);
            if (isEscapedByte(name, i)) {
                out.writeBytes(name.substring(start, i).getBytes(StandardCharsets.UTF_8));
                out.write(ch - ESCAPE_BASE);
                start = i + 1;
            }
        }
        out.writeBytes(name.substring(start).getBytes(StandardCharsets.UTF_8));
        return out.toByteArray();
    }

    public static ByteString bytes(String name) {
        return ByteString.copyFrom(encode(name));
    }

    /** Whether {@code name} holds a byte that is not valid UTF-8 (an escaped byte). */
    public static boolean hasEscapes(String name) {
        for (int i = 0; i < name.length(); i++) {
            if (isEscapedByte(name, i)) {
                return true;
            }
        }
        return false;
    }

    /** A lone low surrogate U+DC80..U+DCFF (never preceded by a high surrogate) stands for one byte. */
    private static boolean isEscapedByte(String s, int i) {
        char ch = s.charAt(i);
        return ch >= '\uDC80' && ch <= '\uDCFF' && (i == 0 || !Character.isHighSurrogate(s.charAt(i - 1)));
    }

    /**
     * The name for people: escaped bytes as {@code \xNN}, control characters as {@code \xNN}
     * (a newline in a file name must not start a new log line), everything else as it is.
     */
    public static String display(String name) {
        if (!needsEscaping(name)) {
            return name;
        }
        StringBuilder out = new StringBuilder(name.length() + 16);
        for (int i = 0; i < name.length(); i++) {
            char ch = name.charAt(i);
            if (isEscapedByte(name, i)) {
                out.append(String.format("\\x%02x", ch - ESCAPE_BASE));
            } else if (ch < 0x20 || ch == 0x7f) {
                out.append(String.format("\\x%02x", (int) ch));
            } else {
                out.append(ch);
            }
        }
        return out.toString();
    }

    /** Whether {@link #display} differs from the name: its bytes must then be recorded beside it. */
    public static boolean needsEscaping(String name) {
        for (int i = 0; i < name.length(); i++) {
            char ch = name.charAt(i);
            if (ch < 0x20 || ch == 0x7f || isEscapedByte(name, i)) {
                return true;
            }
        }
        return false;
    }

    /** NUL-separated entries, as /proc/<pid>/cmdline and environ hold them (a last NUL is optional). */
    public static List<String> splitNul(byte[] data) {
        List<String> parts = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < data.length; i++) {
            if (data[i] == 0) {
                parts.add(decode(data, start, i - start));
                start = i + 1;
            }
        }
        if (start < data.length) {
            parts.add(decode(data, start, data.length - start));
        }
        return parts;
    }
}
