import './publicPath';
import React from 'react';
import { createRoot } from 'react-dom/client';
import { StandaloneConsole } from './StandaloneConsole';

createRoot(document.getElementById('root')!).render(<StandaloneConsole />);
