package io.unitledger.sdk;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** A real nats-server with JetStream and token auth, restartable on its port to simulate an outage. */
final class TestNats {
    static final String TOKEN = "ul_test0000_secret";

    private final Path binary;
    private final int port;
    private final Path store;
    private Process process;

    TestNats() throws IOException, InterruptedException {
        this.binary = binary();
        try (ServerSocket s = new ServerSocket(0)) {
            this.port = s.getLocalPort();
        }
        this.store = Files.createTempDirectory("unitledger-nats");
        start();
    }

    static Path binary() {
        String env = System.getenv("UNITLEDGER_NATS_SERVER");
        for (String candidate : new String[] {env, "../../.venv/bin/nats-server"}) {
            if (candidate != null && Files.isExecutable(Path.of(candidate))) {
                return Path.of(candidate).toAbsolutePath();
            }
        }
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            Path p = Path.of(dir, "nats-server");
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        throw new IllegalStateException(
                "nats-server not found: run `make install-test` (it ships in the virtualenv) or set UNITLEDGER_NATS_SERVER");
    }

    String url() {
        return "nats://127.0.0.1:" + port;
    }

    void start() throws IOException, InterruptedException {
        process = new ProcessBuilder(List.of(binary.toString(), "-a", "127.0.0.1", "-p", String.valueOf(port), "-js",
                "-sd", store.toString(), "--auth", TOKEN))
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start();
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (System.nanoTime() < deadline) {
            try (Socket s = new Socket("127.0.0.1", port)) {
                s.shutdownOutput();
                return;
            } catch (IOException e) {
                Thread.sleep(20);
            }
        }
        throw new IllegalStateException("nats-server did not start on " + url());
    }

    void stop() throws InterruptedException {
        if (process != null) {
            process.destroyForcibly();
            process.waitFor();
            process = null;
        }
    }

    void close() throws InterruptedException {
        stop();
    }
}
