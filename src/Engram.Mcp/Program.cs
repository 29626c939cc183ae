using Engram.Mcp.Commands;
using Engram.Mcp.Hosting;

// The mode comes from the command line: no command is the MCP server on stdio (as clients launch it), 'serve --http'
// the Streamable HTTP server, anything else a command for people. 'engram --help' lists them.
if (EngramCli.Serves(args))
{
    EngramServer.PrepareTools(); // beside the command line's parsing and the host's start
}

return await EngramCli.RunAsync(args, Shell.Current());
