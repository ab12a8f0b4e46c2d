package io.lockstep.coordinator.cli;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Struct;
import com.google.protobuf.util.JsonFormat;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;

/** One run of the coordinator command through picocli, with what it printed. */
public record CliRun(int exit, String out, String err) {
    public static CliRun of(String... args) {
        CommandLine commandLine = CoordinatorMain.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        commandLine.setOut(new PrintWriter(out, true));
        commandLine.setErr(new PrintWriter(err, true));
        int exit = commandLine.execute(args);
        return new CliRun(exit, out.toString(), err.toString());
    }

    /** stdout parsed as a JSON object: fails the test when it is not valid JSON. */
    Struct json() throws InvalidProtocolBufferException {
        Struct.Builder parsed = Struct.newBuilder();
        JsonFormat.parser().merge(out, parsed);
        return parsed.build();
    }

    @Override
    public String toString() {
        return "exit " + exit + "\n--- stdout\n" + out + "--- stderr\n" + err;
    }
}
