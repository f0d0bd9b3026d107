export * from '../../src/lab/site-lab.js';
