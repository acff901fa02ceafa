package org.elasticsearch.node;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import groupid.testbed.RootEndpointPlugin;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.ClasspathPluginsService;
import org.elasticsearch.plugins.PluginsService;
import org.elasticsearch.transport.netty4.Netty4Plugin;

/**
 * A single Elasticsearch 8 node for the GroupIDUpgrade tests, run in its own JVM.
 *
 * <p>Usage: {@code java -cp ... org.elasticsearch.node.TestbedNode key=value ...} where each argument
 * is a node setting (path.home, path.data, path.repo, http.port, ...). The node is the real server
 * (REST layer, indices, templates, snapshot/restore with the {@code fs} repository) with two plugins
 * loaded from the classpath: netty4 (HTTP and transport) and {@link RootEndpointPlugin} ({@code GET /},
 * {@code HEAD /}). SIGTERM closes the node cleanly.
 *
 * <p>It lives in {@code org.elasticsearch.node} because {@link NodeConstruction} and
 * {@link NodeServiceProvider} are package-private.
 */
public final class TestbedNode extends Node {
    /** Printed on stdout once the HTTP layer answers; es_node.py also polls {@code GET /}. */
    public static final String STARTED_MARKER = "TESTBED_NODE_STARTED";

    /** INFO and up to stdout; es_node.py sends stdout to a log file in the state dir. */
    private static final String LOG4J_CONFIG = String.join("\n",
        "status = error",
        "appender.console.type = Console",
        "appender.console.name = console",
        "appender.console.layout.type = PatternLayout",
        "appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-30c{1.}] [%node_name]%marker %m%n",
        "rootLogger.level = info",
        "rootLogger.appenderRef.console.ref = console",
        "");

    private TestbedNode(Environment environment) {
        super(NodeConstruction.prepareConstruction(environment, new NodeServiceProvider() {
            @Override
            PluginsService newPluginService(Environment env, Settings settings) {
                return new ClasspathPluginsService(settings, List.of(Netty4Plugin.class, RootEndpointPlugin.class));
            }
        }, true));
    }

    public static void main(String[] args) throws Exception {
        Settings.Builder builder = Settings.builder();
        for (String arg : args) {
            int eq = arg.indexOf('=');
            if (eq <= 0) {
                System.err.println("setting arguments are key=value, got: " + arg);
                System.exit(2);
            }
            builder.put(arg.substring(0, eq), arg.substring(eq + 1));
        }
        Settings settings = builder.build();

        Path configDir = Path.of(Environment.PATH_HOME_SETTING.get(settings)).resolve("config");
        Files.createDirectories(configDir);
        Path log4jConfig = configDir.resolve("log4j2.properties");
        if (Files.exists(log4jConfig) == false) {
            Files.writeString(log4jConfig, LOG4J_CONFIG);
        }
        Environment environment = new Environment(settings, configDir);
        LogConfigurator.setNodeName(Node.NODE_NAME_SETTING.get(settings));
        LogConfigurator.configure(environment, true);
        TestbedNode node;
        try {
            node = new TestbedNode(environment);
        } catch (Throwable e) {
            // exit even when construction left non-daemon threads behind, so es_node.py sees it at once
            e.printStackTrace();
            System.exit(1);
            return;
        }

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(20, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "testbed-node-shutdown"));

        try {
            node.start();
        } catch (Throwable e) {
            e.printStackTrace();
            System.exit(1); // the shutdown hook closes what started
        }
        System.out.println(STARTED_MARKER + " pid=" + ProcessHandle.current().pid());
        System.out.flush();
        stopped.await();
    }
}
