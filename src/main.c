/* Entry point: picks the subcommand (serve, bench, sub, pub, channels, history, presence) and
 * hands argv to it. */
#include <stdio.h>
#include <string.h>

#include "auth/mint.h"
#include "bench/bench.h"
#include "cli.h"
#include "config.h"
#include "server.h"

extern char **environ;

static void usage(FILE *out)
{
    fprintf(out, "usage: wshub <command> [options]\n\n"
                 "commands:\n"
                 "  serve      run the hub (default when the first argument is an option)\n"
                 "  bench      load generator, peers side by side (docs/bench-tool.md)\n"
                 "  sub        print a channel's messages as JSON lines, resuming across restarts\n"
                 "  pub        publish a message, or one per stdin line (--receipts N)\n"
                 "  channels   list the hub's channels (HTTP API)\n"
                 "  history    print a channel's retained messages (HTTP API)\n"
                 "  presence   list who is subscribed to a presence channel (HTTP API)\n"
                 "  token      mint a signed token for testing (docs/security.md)\n"
                 "  help       show this help\n"
                 "  version    show the version\n\n"
                 "Run `wshub serve --help` for the server's options, `wshub sub --help` for the clients'.\n");
}

static int cmd_serve(int argc, char **argv)
{
    wsh_config_t cfg;
    int rc = wsh_config_load(&cfg, argc, argv, environ);
    if (rc != 0) {
        wsh_config_dispose(&cfg);
        return rc > 0 ? 0 : 2;
    }
    rc = wsh_server_run(&cfg);
    wsh_config_dispose(&cfg);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return cmd_serve(0, argv + 1);
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 2, argv + 2);
    if (strcmp(cmd, "bench") == 0)
        return wsh_bench_main(argc - 2, argv + 2);
    if (wsh_cli_is_command(cmd))
        return wsh_cli_main(cmd, argc - 2, argv + 2);
    if (strcmp(cmd, "token") == 0)
        return wsh_token_main(argc - 2, argv + 2, wsh_config_parse_duration_ms);
    if (cmd[0] == '-' && strcmp(cmd, "-h") != 0 && strcmp(cmd, "--help") != 0 && strcmp(cmd, "--version") != 0)
        return cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("wshub " WSH_VERSION "\n");
        return 0;
    }
    fprintf(stderr, "wshub: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return 2;
}
