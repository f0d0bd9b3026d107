/** The options that name a coordinator to read from with a viewer token, as `matrix` and `explain` take them. */
export const COORDINATOR_SOURCE_OPTIONS = {
  coordinator: { type: 'string', requiresArg: true, describe: 'Base URL of the coordinator', group: 'Source:' },
  'token-file': {
    type: 'string',
    requiresArg: true,
    describe: 'File holding a viewer token (with --coordinator)',
    group: 'Source:',
  },
  ca: {
    type: 'string',
    requiresArg: true,
    describe: "PEM file of the CA that signed the coordinator's certificate",
    group: 'Source:',
  },
} as const;
