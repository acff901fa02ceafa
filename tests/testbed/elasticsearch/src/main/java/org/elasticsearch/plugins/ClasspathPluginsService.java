package org.elasticsearch.plugins;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;

import org.elasticsearch.Version;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.jdk.ModuleQualifiedExportsService;

/**
 * A plugins service that loads a fixed list of plugin classes already on the classpath, instead of
 * scanning the modules/ and plugins/ folders of a distribution (there is none: the testbed node is
 * built from Maven Central jars). It lives in this package because {@code loadPlugin} and
 * {@code LoadedPlugin} are package-private.
 */
public final class ClasspathPluginsService extends PluginsService {
    private final List<LoadedPlugin> loaded;

    public ClasspathPluginsService(Settings settings, Collection<Class<? extends Plugin>> pluginClasses) {
        super(settings, null, null, null);
        List<LoadedPlugin> list = new ArrayList<>();
        for (Class<? extends Plugin> pluginClass : pluginClasses) {
            PluginDescriptor descriptor = new PluginDescriptor(
                pluginClass.getSimpleName(),   // name
                "loaded from the classpath by the GroupIDUpgrade testbed",
                Version.CURRENT.toString(),    // plugin version
                Version.CURRENT.toString(),    // elasticsearch version
                "17",                          // java version
                pluginClass.getName(),         // class name
                null,                          // module name (not modular)
                List.of(),                     // extended plugins
                false,                         // native controller
                false,                         // licensed
                false,                         // modular
                false                          // stable plugin API
            );
            list.add(new LoadedPlugin(descriptor, loadPlugin(pluginClass, settings, null)));
        }
        this.loaded = List.copyOf(list);
    }

    @Override
    protected List<LoadedPlugin> plugins() {
        return loaded;
    }

    /** The server runs on the classpath here, not as a named module: there are no module exports to add. */
    @Override
    protected void addServerExportsService(Map<String, List<ModuleQualifiedExportsService>> qualifiedExports) {
        // nothing to do on the classpath
    }
}
