export { smoke } from './smoke.js';
