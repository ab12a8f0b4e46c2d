package io.lockstep.coordinator.cli;

import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.util.concurrent.Callable;

/** A command on one group: the connection options and {@code --group}, which picocli finds in this superclass. */
abstract class GroupCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ConnectionOptions connection;

    @Option(names = "--group", required = true, paramLabel = "GROUP", description = "The group.")
    String group;
}
