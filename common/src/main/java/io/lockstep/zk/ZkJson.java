package io.lockstep.zk;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;

import java.nio.charset.StandardCharsets;

/** Node data as protobuf JSON: typed for the code, readable for an operator with zkCli. */
public final class ZkJson {
    private static final JsonFormat.Printer PRINTER = JsonFormat.printer().omittingInsignificantWhitespace();
    private static final JsonFormat.Parser PARSER = JsonFormat.parser().ignoringUnknownFields();

    private ZkJson() {
    }

    public static byte[] toBytes(Message message) {
        try {
            return PRINTER.print(message).getBytes(StandardCharsets.UTF_8);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalArgumentException("cannot print " + message.getDescriptorForType().getName(), e);
        }
    }

    @SuppressWarnings("unchecked")
    public static <T extends Message> T parse(byte[] data, T prototype, String path) {
        Message.Builder builder = prototype.newBuilderForType();
        try {
            PARSER.merge(new String(data, StandardCharsets.UTF_8), builder);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException("ZooKeeper node " + path + " does not hold a valid "
                    + prototype.getDescriptorForType().getName() + ": " + e.getMessage(), e);
        }
        return (T) builder.build();
    }
}
