package io.lockstep.agent.cli;

import io.lockstep.manifest.ManifestCodec;
import io.lockstep.manifest.ManifestFormatException;
import io.lockstep.manifest.ManifestKey;
import io.lockstep.manifest.ManifestPrinter;
import io.lockstep.proto.Manifest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "print", mixinStandardHelpOptions = true,
        description = "Check a manifest file (format version, sha256) and print it as text or JSON.")
final class PrintCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "FILE", description = "A manifest written by 'agent capture' or found in the store.")
    Path file;

    @Option(names = "--json", description = "Print JSON.")
    boolean json;

    @Option(names = "--manifest-key", paramLabel = "FILE",
            description = "The key of an encrypted manifest (the coordinator's --manifest-key file).")
    Path manifestKey;

    @Option(names = "--show-env", description = "Print the recorded environment values too (they may hold passwords"
            + " and tokens); by default only the variables' names are printed.")
    boolean showEnv;

    @Override
    public Integer call() throws Exception {
        Manifest manifest;
        try {
            java.util.Optional<ManifestKey> key = java.util.Optional.ofNullable(manifestKey).map(ManifestKey::read);
            manifest = ManifestCodec.decode(ManifestKey.unseal(key, Files.readAllBytes(file)));
        } catch (NoSuchFileException e) {
            return ClientErrors.fail(spec, json, "print", AgentMain.BAD_ARGUMENTS, ClientErrors.USAGE, "no such file: " + file);
        } catch (IllegalArgumentException e) {
            return ClientErrors.fail(spec, json, "print", AgentMain.BAD_ARGUMENTS, ClientErrors.USAGE, e.getMessage());
        } catch (ManifestFormatException e) {
            return ClientErrors.fail(spec, json, "print", AgentMain.FAILED, ClientErrors.MANIFEST_UNUSABLE,
                    file + ": " + e.getMessage());
        }
        spec.commandLine().getOut().println(json ? ManifestPrinter.toJson(manifest, showEnv)
                : ManifestPrinter.toText(manifest, showEnv));
        return AgentMain.OK;
    }
}
