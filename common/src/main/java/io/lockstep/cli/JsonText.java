package io.lockstep.cli;

import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors.EnumValueDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.MapEntry;
import com.google.protobuf.MessageOrBuilder;

import java.util.Base64;
import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The one JSON form of every {@code --json} output (docs/json.md): objects with camelCase keys,
 * numbers as numbers (also 64-bit ones: protobuf's own printer makes them strings), enums as
 * their names, strings escaped only where JSON needs it (no {@code \u003d} for '='), durations
 * as milliseconds in fields ending in {@code Ms}. Protobuf messages print every field, set or
 * not, so that each object always has the same keys. No JSON library is on the classpath.
 */
public final class JsonText {
    private JsonText() {
    }

    /** An object with fields in insertion order. */
    public static Map<String, Object> object() {
        return new LinkedHashMap<>();
    }

    /** The error object every command prints on stdout under --json when it fails. */
    public static String error(int code, String reason, String message) {
        Map<String, Object> error = object();
        error.put("code", code);
        error.put("reason", reason);
        error.put("message", message);
        Map<String, Object> wrapper = object();
        wrapper.put("error", error);
        return print(wrapper);
    }

    public static String print(Object value) {
        StringBuilder out = new StringBuilder();
        write(value, out);
        return out.toString();
    }

    private static void write(Object value, StringBuilder out) {
        if (value == null) {
            out.append("null");
        } else if (value instanceof String text) {
            quote(text, out);
        } else if (value instanceof Double || value instanceof Float) {
            double number = ((Number) value).doubleValue();
            out.append(Double.isFinite(number) ? String.format(Locale.ROOT, "%.3f", number) : "null");
        } else if (value instanceof Number || value instanceof Boolean) {
            out.append(value);
        } else if (value instanceof MessageOrBuilder message) {
            write(fields(message), out);
        } else if (value instanceof Map<?, ?> map) {
            out.append('{');
            Iterator<? extends Map.Entry<?, ?>> fields = map.entrySet().iterator();
            while (fields.hasNext()) {
                Map.Entry<?, ?> field = fields.next();
                quote(String.valueOf(field.getKey()), out);
                out.append(':');
                write(field.getValue(), out);
                out.append(fields.hasNext() ? "," : "");
            }
            out.append('}');
        } else if (value instanceof Collection<?> items) {
            out.append('[');
            Iterator<?> each = items.iterator();
            while (each.hasNext()) {
                write(each.next(), out);
                out.append(each.hasNext() ? "," : "");
            }
            out.append(']');
        } else {
            throw new IllegalArgumentException("no JSON form for " + value.getClass().getName());
        }
    }

    /** Every field of the message by its JSON name, defaults included. */
    private static Map<String, Object> fields(MessageOrBuilder message) {
        Map<String, Object> fields = object();
        for (FieldDescriptor field : message.getDescriptorForType().getFields()) {
            if (field.getRealContainingOneof() != null && !message.hasField(field)) {
                continue;
            }
            Object value = message.getField(field);
            if (field.isMapField()) {
                Map<String, Object> map = new LinkedHashMap<>();
                for (Object entry : (List<?>) value) {
                    MapEntry<?, ?> pair = (MapEntry<?, ?>) entry;
                    FieldDescriptor valueField = pair.getDescriptorForType().findFieldByName("value");
                    map.put(String.valueOf(pair.getKey()), single(valueField, pair.getValue()));
                }
                fields.put(field.getJsonName(), map);
            } else if (field.isRepeated()) {
                fields.put(field.getJsonName(), ((List<?>) value).stream().map(item -> single(field, item)).toList());
            } else {
                fields.put(field.getJsonName(), single(field, value));
            }
        }
        return fields;
    }

    private static Object single(FieldDescriptor field, Object value) {
        return switch (field.getJavaType()) {
            case ENUM -> ((EnumValueDescriptor) value).getName();
            case BYTE_STRING -> Base64.getEncoder().encodeToString(((ByteString) value).toByteArray());
            default -> value;
        };
    }

    private static void quote(String text, StringBuilder out) {
        out.append('"');
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }
}
