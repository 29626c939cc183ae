using Engram.Mcp;

// With no command: the MCP server on stdio, as clients launch it. `engram --help` lists the commands.
return await Cli.RunAsync(args);
