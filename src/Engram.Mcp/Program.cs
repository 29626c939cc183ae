using Engram.Mcp.Commands;

// The mode comes from the command line: no command is the MCP server on stdio (as clients launch it), 'serve --http'
// the Streamable HTTP server, anything else a command for people. 'engram --help' lists them.
return await EngramCli.RunAsync(args, Shell.Current());
